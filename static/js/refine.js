/* SnapShop result page: the search box on the photo (Cropper.js, loaded only when a result shows),
   subject chips, keyboard control of the box, focus after refining and "show more".
   No inline scripts (CSP): everything hooks in from here; Cropper.js sets positions through the CSSOM. */
(function () {
  "use strict";

  var STEP = 0.02;          /* arrow keys move or resize the box by 2 % of the photo */
  var DRAG_DELAY = 350;     /* ms after a drag ends before searching */
  var KEY_DELAY = 900;      /* ms after the last arrow key before searching */
  var loading = null;
  document.documentElement.classList.add("js-ready");

  function loadCropper(done) {
    if (window.Cropper) { done(); return; }
    if (!loading) {
      loading = [];
      /* Both files, not only the script: a Cropper built before its stylesheet applies lays out the
         photo at full size for a moment, and the page jumps by hundreds of pixels. */
      var pending = 2;
      var loaded = function () {
        pending -= 1;
        if (pending || !window.Cropper) return;
        var queue = loading; loading = null; queue.forEach(function (f) { f(); });
      };
      var body = document.body;
      var css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = body.dataset.cropperCss;
      css.onload = loaded;
      css.onerror = loaded;  /* without its stylesheet the box still works, unstyled */
      document.head.appendChild(css);
      var script = document.createElement("script");
      script.src = body.dataset.cropperJs;
      script.onload = loaded;
      document.head.appendChild(script);
    }
    if (loading) loading.push(done); else done();
  }

  function parseBox(text) {
    var parts = (text || "").split(",").map(parseFloat);
    if (parts.length !== 4 || parts.some(isNaN)) return [0, 0, 1, 1];
    return parts;
  }
  function boxText(box) { return box.map(function (v) { return Math.min(1, Math.max(0, v)).toFixed(4); }).join(","); }

  function fractions(cropper) {
    var image = cropper.getImageData();
    var data = cropper.getData();
    return [data.x / image.naturalWidth, data.y / image.naturalHeight,
            (data.x + data.width) / image.naturalWidth, (data.y + data.height) / image.naturalHeight];
  }

  function setFractions(cropper, box) {
    var image = cropper.getImageData();
    cropper.setData({
      x: box[0] * image.naturalWidth, y: box[1] * image.naturalHeight,
      width: (box[2] - box[0]) * image.naturalWidth, height: (box[3] - box[1]) * image.naturalHeight
    });
  }

  function submitForm(form) {
    if (typeof form.requestSubmit === "function") form.requestSubmit(); else htmx.trigger(form, "submit");
  }

  function searchRegion(figure, cropper) {
    var form = figure.querySelector("[data-region-form]");
    var input = figure.querySelector("[data-region-input]");
    if (!form || !input) return;
    var box = fractions(cropper);
    var before = parseBox(input.value);
    var moved = box.some(function (v, i) { return Math.abs(v - before[i]) > 0.005; });
    if (!moved) return;
    input.value = boxText(box);
    submitForm(form);
  }

  function initRegion(img) {
    if (img.cropper || img.dataset.cropperPending) return;
    var figure = img.closest("[data-region-search]");
    if (!figure) return;
    img.dataset.cropperPending = "1";
    loadCropper(function () {
      var start = function () {
        delete img.dataset.cropperPending;
        if (!img.isConnected || img.cropper) return;
        var timer = null;
        var cropper = new window.Cropper(img, {
          viewMode: 1, dragMode: "crop", autoCropArea: 1, movable: false, rotatable: false, scalable: false,
          zoomable: false, zoomOnTouch: false, zoomOnWheel: false, guides: false, background: false,
          checkOrientation: false, checkCrossOrigin: false, restore: false, toggleDragModeOnDblclick: false,
          minCropBoxWidth: 24, minCropBoxHeight: 24,
          /* A data attribute, not a class: while a swap settles, htmx gives the new figure (same id) the old
             one's classes, so a class said "ready" before this photo's box existed. */
          ready: function () {
            setFractions(img.cropper, parseBox(img.dataset.box));
            /* Cropper draws the photo twice more with its alt: one "Your photo" is enough for a screen reader. */
            figure.querySelectorAll(".cropper-container img").forEach(function (copy) { copy.alt = ""; });
            figure.dataset.boxReady = "1";
          },
          cropend: function () {
            clearTimeout(timer);
            timer = setTimeout(function () { searchRegion(figure, cropper); }, DRAG_DELAY);
          }
        });
        var holder = figure.querySelector(".query-photo");
        if (holder && !holder.dataset.keys) {
          holder.dataset.keys = "1";
          holder.addEventListener("keydown", function (event) {
            var live = img.cropper;
            if (!live || !live.ready) return;  /* before its box exists a key would move nothing, then search nothing */
            if (event.key === "Enter") { event.preventDefault(); searchRegion(figure, live); return; }
            var dx = { ArrowLeft: -STEP, ArrowRight: STEP }[event.key] || 0;
            var dy = { ArrowUp: -STEP, ArrowDown: STEP }[event.key] || 0;
            if (!dx && !dy) return;
            event.preventDefault();
            var box = fractions(live);
            if (event.shiftKey) { box[2] = Math.max(box[0] + 0.05, box[2] + dx); box[3] = Math.max(box[1] + 0.05, box[3] + dy); }
            else {
              dx = Math.min(Math.max(dx, -box[0]), 1 - box[2]);
              dy = Math.min(Math.max(dy, -box[1]), 1 - box[3]);
              box = [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy];
            }
            setFractions(live, box);
            clearTimeout(timer);
            timer = setTimeout(function () { searchRegion(figure, live); }, KEY_DELAY);
          });
        }
      };
      if (img.complete && img.naturalWidth) start(); else img.addEventListener("load", start, { once: true });
    });
  }

  /* A chip shows its part of the photo: the thumbnail scaled and shifted inside a small square. */
  function placeChip(img) {
    var apply = function () {
      var box = parseBox(img.dataset.box);
      var frame = img.parentElement;
      var side = frame.clientWidth || 40;
      var w = img.naturalWidth, h = img.naturalHeight;
      if (!w || !h) return;
      var bw = (box[2] - box[0]) * w, bh = (box[3] - box[1]) * h;
      var scale = side / Math.max(bw, bh, 1);
      img.style.width = (w * scale) + "px";
      img.style.height = (h * scale) + "px";
      img.style.maxWidth = "none";
      img.style.left = (-box[0] * w * scale + (side - bw * scale) / 2) + "px";
      img.style.top = (-box[1] * h * scale + (side - bh * scale) / 2) + "px";
    };
    if (img.complete && img.naturalWidth) apply(); else img.addEventListener("load", apply, { once: true });
  }

  function setUp(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("img[data-cropper]").forEach(initRegion);
    (root.querySelectorAll ? root : document).querySelectorAll(".chip-thumb img[data-box]").forEach(placeChip);
  }

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:load", function (event) { setUp(event.target || document); });

  /* htmx keeps a copy of the page for the back button: keep it free of Cropper's own markup and of the styles
     set through the CSSOM here, which in the copy's HTML are inline style attributes that the CSP refuses
     when the back button brings it back (a console error for each). */
  document.addEventListener("htmx:beforeHistorySave", function () {
    document.querySelectorAll("img[data-cropper]").forEach(function (img) {
      if (img.cropper) img.cropper.destroy();
      img.removeAttribute("style");
      var figure = img.closest("[data-region-search]");
      if (figure) delete figure.dataset.boxReady;
    });
    document.querySelectorAll(".chip-thumb img[data-box]").forEach(function (img) { img.removeAttribute("style"); });
    setTimeout(function () { setUp(document); }, 0);
  });
  document.addEventListener("htmx:historyRestore", function () { setUp(document); });

  /* The refine form's text boxes (words, prices) search once the keyboard leaves them for something else,
     not on each box's own change: tabbing from the lowest price to the highest searched at once, and the
     answer replaced the form while the highest price was being typed, losing it. Enter searches at once
     (the form's submit). Leaving them for another control (a checkbox, a category) waits a moment for that
     control's own search, which then goes alone: a second search racing it lost the category (the later answer
     won) or doubled the work. A category link's search carries the typed boxes and the sort
     (htmx:configRequest below); a checkbox, being in the form, sends them anyway; "show more" gives way to them.
     The sort changed from the keyboard waits the same way, and also goes once the keys rest (KEY_DELAY) or on
     Enter, unless the keyboard went on into a box: a closed select takes the next option on each arrow key (or
     letter) and says "change", so reaching "high to low" searched "low to high" first (QA20). Picked from its
     list (mouse, touch), it searches at once. */
  var TEXT_FIELDS = "#refine input[type=search], #refine input[type=number]";
  var SORT = "#refine select[data-sort]";
  var OTHER_CONTROL_GRACE = 300;  /* ms: from mousedown, where focus moves, to the click that searches */
  var pendingRefine = null;
  var refineTimer = null;
  var sortKeyed = false;
  function searchLater(form, delay) {
    clearTimeout(refineTimer);
    refineTimer = setTimeout(function () {
      refineTimer = null;
      if (pendingRefine !== form || !form.isConnected) return;  /* another search went meanwhile */
      pendingRefine = null;
      submitForm(form);
    }, delay);
  }
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (!field.matches) return;
    if (field.matches(TEXT_FIELDS)) {
      event.stopPropagation();  /* before htmx's "change" trigger on the form sees it */
      pendingRefine = field.form;
    } else if (field.matches(SORT) && sortKeyed) {
      sortKeyed = false;
      event.stopPropagation();
      pendingRefine = field.form;
      searchLater(field.form, KEY_DELAY);
    }
  }, true);
  document.addEventListener("keydown", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches(SORT)) return;
    if (event.key === "Enter" && pendingRefine === select.form) { event.preventDefault(); searchLater(select.form, 0); return; }
    sortKeyed = /^(Arrow|Page|Home|End)/.test(event.key) || event.key.length === 1;
  }, true);
  document.addEventListener("pointerdown", function (event) {
    if (event.target.closest && event.target.closest(SORT)) sortKeyed = false;  /* a key that changed nothing before */
  }, true);
  document.addEventListener("focusout", function (event) {
    var form = pendingRefine;
    var next = event.relatedTarget;
    if (!event.target.matches || !event.target.matches(TEXT_FIELDS + ", " + SORT)) return;
    sortKeyed = false;
    if (!form) return;
    if (next && next.matches && next.matches(TEXT_FIELDS)) {  /* still typing the refinement */
      clearTimeout(refineTimer);  /* a keyed sort's wait: its answer would replace the box being typed in */
      return;
    }
    /* Once the focus has landed, so that the answer gives it back to the same control (see refocus). */
    searchLater(form, next ? OTHER_CONTROL_GRACE : 0);
  });
  /* "Show more" while a refinement waits would add the next page of the results before it: the refinement goes
     instead (its first page). */
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    var form = pendingRefine;
    if (!form || !form.isConnected || !elt || !elt.matches || !elt.matches("[data-more]")) return;
    event.preventDefault();
    searchLater(form, 0);
  });
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    var form = elt && elt.closest ? elt.closest("#refine") : null;
    if (!form || elt === form || event.detail.verb !== "get") return;
    var url = new URL(event.detail.path, location.href);
    form.querySelectorAll(TEXT_FIELDS).forEach(function (field) {
      if (field.name) url.searchParams.set(field.name, field.value);
    });
    var sort = form.querySelector(SORT);
    var chosen = sort && sort.options[sort.selectedIndex];
    if (chosen && !chosen.defaultSelected) url.searchParams.set(sort.name, sort.value);  /* changed, not yet searched */
    event.detail.path = url.pathname + url.search;
  });

  /* The results replaced whole (refining, a facet, a photo) are taken out of the scroll anchoring meanwhile: see
     #results.replacing in snapshop.css. */
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "results") target.classList.add("replacing");
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (target && target.id === "results") target.classList.remove("replacing");
  });

  /* Focus stays on the control that searched, so the new results' heading is said through the page's status line;
     emptied first and filled a moment later, so that the same count twice is said twice. */
  var announceTimer = null;
  function announce(heading) {
    var status = document.getElementById("results-status");
    if (!status || !heading) return;
    status.textContent = "";
    clearTimeout(announceTimer);
    announceTimer = setTimeout(function () { status.textContent = heading.textContent.trim(); }, 150);
  }

  /* Refining, and searching a part of the photo from the keyboard (the box's arrow keys, a chip), keep the
     keyboard where it was, so that the next arrow key moves the box again instead of scrolling the page;
     "show more" moves it to the first new card. */
  var refocus = null;
  var cardsBefore = 0;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var active = document.activeElement;
    refocus = null;
    pendingRefine = null;  /* a search has gone: a refine's carries the boxes, another's starts afresh */
    clearTimeout(refineTimer);
    if (elt && elt.closest && active && active.closest) {
      if (elt.closest("#refine") && active.name && active.closest("#refine")) {
        refocus = "#refine [name='" + active.name + "']";
      } else if (elt.closest("#refine") && active.matches(".facets summary")) {
        refocus = "#refine .facets summary";  /* where Tab took the keyboard as the sort's search went */
      } else if (elt.matches("[data-region-form]") && active.closest(".query-photo")) {
        refocus = ".query-photo";
      } else if (elt.closest(".chip-form") && active.dataset.chip) {
        refocus = "[data-chip='" + active.dataset.chip + "']";
      }
    }
    var grid = document.getElementById("grid");
    cardsBefore = grid ? grid.children.length : 0;
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (target.id === "results" && refocus) {
      var field = document.querySelector(refocus);
      if (field) field.focus({ preventScroll: true });
      refocus = null;
      announce(document.getElementById("results-title"));
    } else if (target.id === "grid") {
      var first = target.children[cardsBefore];
      var control = first && first.querySelector("a, button");
      if (control) control.focus({ preventScroll: true });
    }
  });
})();
