/* SnapShop: drop, paste and preview a photo, then let htmx post the form.
   No inline scripts anywhere (a CSP forbids them); everything hooks in from here. */
(function () {
  "use strict";

  function form() { return document.getElementById("photo-form"); }

  var previewURL = null;  /* the chosen photo's blob: address; the one before it is revoked */
  function showPreview(file) {
    var img = document.querySelector("[data-preview]");
    if (!img || !file || !/^image\//.test(file.type || "")) { if (img) img.hidden = true; return; }
    if (previewURL) URL.revokeObjectURL(previewURL);
    previewURL = URL.createObjectURL(file);
    img.src = previewURL;
    img.hidden = false;
  }

  /* Put a file into the main photo input (drag-and-drop, paste) and search with it. */
  function searchWith(file) {
    var f = form();
    if (!f || !file) return;
    var inputs = f.querySelectorAll("[data-photo-input]");
    var target = f.querySelector("#id_photo") || inputs[0];
    try {
      var transfer = new DataTransfer();
      transfer.items.add(file);
      inputs.forEach(function (input) { if (input !== target) input.value = ""; });
      target.files = transfer.files;
    } catch (e) { return; }
    showPreview(file);
    submit(f);
  }

  function submit(f) {
    var max = parseInt(f.dataset.maxBytes || "0", 10);
    var tooLarge = Array.prototype.some.call(f.querySelectorAll("[data-photo-input]"), function (input) {
      return max && input.files && input.files.length && input.files[0].size > max;
    });
    if (tooLarge) {  /* say so at once instead of uploading megabytes the server will refuse */
      showMessage(f.dataset.tooLarge, f.dataset.tooLargeTitle);
      f.querySelectorAll("[data-photo-input]").forEach(function (input) { input.value = ""; });
      return;
    }
    if (typeof f.requestSubmit === "function") f.requestSubmit(); else f.submit();
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("[data-photo-input]") || !input.files || !input.files.length) return;
    form().querySelectorAll("[data-photo-input]").forEach(function (other) { if (other !== input) other.value = ""; });
    showPreview(input.files[0]);
    submit(form());
  });

  document.addEventListener("dragover", function (event) {
    var zone = event.target.closest && event.target.closest("[data-dropzone]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.add("is-over");
  });
  document.addEventListener("dragleave", function (event) {
    var zone = event.target.closest && event.target.closest("[data-dropzone]");
    if (zone) zone.classList.remove("is-over");
  });
  document.addEventListener("drop", function (event) {
    var zone = event.target.closest && event.target.closest("[data-dropzone]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("is-over");
    var files = event.dataTransfer && event.dataTransfer.files;
    if (files && files.length) searchWith(files[0]);
  });

  document.addEventListener("paste", function (event) {
    if (!form()) return;
    var items = (event.clipboardData && event.clipboardData.items) || [];
    for (var i = 0; i < items.length; i++) {
      if (items[i].kind === "file" && /^image\//.test(items[i].type)) {
        event.preventDefault();
        searchWith(items[i].getAsFile());
        return;
      }
    }
  });

  /* After a swap, move focus to the results heading so screen readers and keyboards follow. */
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "results") {
      var heading = document.getElementById("results-title");
      if (heading) heading.focus({ preventScroll: true });
    }
  });
  /* Deleting from history keeps the keyboard where the shopper was: on the next entry (else the one before,
     else the page's heading). Left alone, focus fell to <body> with the deleted button, and said nothing. */
  var focusAfterDelete = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.closest) return;
    var item = elt.closest(".history-item");
    if (item) {
      var other = item.nextElementSibling || item.previousElementSibling;
      focusAfterDelete = (other && other.querySelector(".history-top")) || "heading";
    } else if (elt.closest(".history-clear")) {
      focusAfterDelete = "heading";
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var target = focusAfterDelete;
    focusAfterDelete = null;
    if (!target || !event.detail.successful) return;
    if (target === "heading") target = document.getElementById("history-title");
    if (target && target.isConnected) target.focus();
  });
  /* Let the same photo be chosen again: the picker opens on an empty input, so choosing it fires "change".
     Emptied here, not after each search: a photo chosen while another was uploading was emptied by the
     first one's end before its own request read the form, and "Choose a photo first" replaced the results. */
  document.addEventListener("click", function (event) {
    var input = event.target;
    if (input.matches && input.matches("[data-photo-input]")) input.value = "";
  });
  /* Back to a page whose preview showed a photo chosen since replaced: its blob: address is revoked. */
  document.addEventListener("htmx:historyRestore", function () {
    var img = document.querySelector("[data-preview]");
    if (img && img.getAttribute("src") && img.getAttribute("src") !== previewURL) {
      img.removeAttribute("src");
      img.hidden = true;
    }
  });

  /* Statuses htmx does not swap (413 from a proxy, 500...) and lost connections: say so in the results area.
     With a title, as the server's refusals read (a file over the limit, refused before it is sent). */
  function showMessage(text, title) {
    var results = document.getElementById("results");
    if (!results) return;
    var box = document.createElement("div");
    box.className = "error-box";
    box.setAttribute("role", "alert");
    var heading = null;
    if (title) {
      heading = document.createElement("h2");
      heading.className = "results-title";
      heading.id = "results-title";
      heading.tabIndex = -1;
      heading.textContent = title;
      box.appendChild(heading);
    }
    var p = document.createElement("p");
    p.textContent = text || "Error";
    box.appendChild(p);
    results.replaceChildren(box);
    if (heading) heading.focus();
  }
  function showError(key) { showMessage(document.body.dataset[key]); }
  document.addEventListener("htmx:responseError", function () { showError("errorGeneric"); });
  document.addEventListener("htmx:sendError", function () { showError("errorNetwork"); });
})();
