"""GET /s/<pk>/?... — a saved search refined by the state in its URL: filters, sort, keyword, pages."""

from __future__ import annotations

import re

import pytest

from search.models import Search
from search.services import record_search, run_search
from tests.ui_fixtures import HTMX, english_afterwards  # noqa: F401 (autouse fixture)


@pytest.fixture
def saved(client, small_catalog, settings) -> Search:
    settings.SNAPSHOP_RESULTS_PER_PAGE = 4
    session = client.session
    session.save()
    data = small_catalog[4].picture.read_bytes()
    return record_search(run_search(data, limit=100), data, session_key=session.session_key)


def names(html: str) -> list[str]:
    return re.findall(r'class="card-name" id="card-\d+-name">([^<]+)</h3>', html)


def prices(html: str) -> list[float]:
    return [float(v) for v in re.findall(r'<data value="([\d.]+)">', html)]


def get(client, saved: Search, query: str = "", htmx: bool = False):
    return client.get(f"/s/{saved.pk}/{query}", headers=HTMX if htmx else {})


def test_first_page_shows_a_page_of_cards(client, saved):
    assert len(names(get(client, saved).content.decode())) == 4


def test_page_two_shows_two_pages(client, saved):
    assert len(names(get(client, saved, "?page=2").content.decode())) == 8


def test_show_more_fragment_has_only_the_next_page(client, saved):
    response = client.get(f"/s/{saved.pk}/?page=2", headers={**HTMX, "HX-Target": "grid"})
    html = response.content.decode()
    assert len(names(html)) == 4 and 'id="more"' in html and 'hx-swap-oob="true"' in html
    assert 'id="card-5-name"' in html


def test_show_more_moves_the_language_switch_to_the_longer_page(client, saved):
    """The switch returned to the first page: the cards shown with "show more" were lost."""
    html = client.get(f"/s/{saved.pk}/?sort=price_desc&page=2", headers={**HTMX, "HX-Target": "grid"}).content.decode()
    assert f'id="language-next" value="/s/{saved.pk}/?sort=price_desc&amp;page=2" hx-swap-oob="true"' in html


def test_category_filter_runs_the_engine_within_it(client, saved, small_catalog):
    category = small_catalog[4].product.cid1
    html = get(client, saved, f"?cid1={category}").content.decode()
    expected = sum(1 for item in small_catalog if item.product.cid1 == category)
    assert f"{expected} matching product" in html
    assert set(names(html)) <= {i.product.name for i in small_catalog if i.product.cid1 == category}


def test_self_operated_only(client, saved, small_catalog):
    own = {i.product.name for i in small_catalog if i.product.ware_label == "自营"}
    shown = names(get(client, saved, "?self=1&page=5").content.decode())
    assert shown and set(shown) == own


@pytest.mark.parametrize("query", ["?self=1", "?sort=price_asc", "?min=0"])
def test_a_filter_keeps_the_uncertain_notice_when_no_match_is_credible(client, saved, settings, query):
    settings.SNAPSHOP_SIMILARITY_FLOOR = 1.5  # nothing is credible
    assert "We are not sure about these matches" in get(client, saved, query).content.decode()
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0  # everything is
    assert "We are not sure about these matches" not in get(client, saved, query).content.decode()


def test_price_range(client, saved):
    shown = prices(get(client, saved, "?min=20&max=40&page=5").content.decode())
    assert shown and all(20 <= p <= 40 for p in shown)


def test_sort_by_price_low_to_high(client, saved, settings):
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0  # every hit credible: one tier (weak ones: see below)
    shown = prices(get(client, saved, "?sort=price_asc&page=5").content.decode())
    assert shown == sorted(shown) and len(shown) > 3


def test_sort_by_price_high_to_low(client, saved, settings):
    settings.SNAPSHOP_SIMILARITY_FLOOR = -1.0
    shown = prices(get(client, saved, "?sort=price_desc&page=5").content.decode())
    assert shown == sorted(shown, reverse=True)


def test_keyword_narrows_the_results(client, saved, small_catalog):
    word = small_catalog[4].product.name.split()[0]
    shown = names(get(client, saved, f"?q={word}&page=5").content.decode())
    assert shown and all(word.lower() in n.lower() or n for n in shown) and len(shown) < 12


def test_facets_list_categories_with_counts(client, saved, small_catalog):
    html = get(client, saved).content.decode()
    category = small_catalog[4].product.cid1
    assert re.search(rf'data-facet="{re.escape(category)}">{re.escape(category)} <span class="count">\d+</span>', html)


def test_htmx_refine_gets_the_results_fragment(client, saved):
    html = get(client, saved, "?sort=price_asc", htmx=True).content.decode()
    assert not html.startswith("<!doctype") and 'id="refine"' in html


def test_the_state_is_kept_in_the_show_more_link(client, saved):
    html = get(client, saved, "?sort=price_asc").content.decode()
    assert "?sort=price_asc&amp;page=2" in html


def test_nonsense_parameters_are_ignored(client, saved):
    response = get(client, saved, "?page=x&min=abc&sort=evil")
    assert response.status_code == 200 and len(names(response.content.decode())) == 4


def test_region_box_and_photo_are_shown(client, saved):
    html = get(client, saved).content.decode()
    assert "data-cropper" in html and 'data-box="' in html


def test_price_sort_keeps_weak_matches_below_credible_ones() -> None:
    from decimal import Decimal

    from search.hits import ProductHit
    from search.refine import ordered

    def hit(sku: str, similarity: float, price: str | None) -> ProductHit:
        return ProductHit(sku, sku, sku_price=None if price is None else Decimal(price), similarity=similarity)

    hits = [hit("A", 0.9, "50"), hit("B", 0.2, "1"), hit("C", 0.5, "20"), hit("D", 0.1, None), hit("E", 0.8, None)]
    skus = lambda sort: [h.sku_id for h in ordered(hits, sort, floor=0.35)]  # noqa: E731
    assert skus("price_asc") == ["C", "A", "E", "B", "D"]
    assert skus("price_desc") == ["A", "C", "E", "B", "D"]
    assert skus("best") == ["A", "B", "C", "D", "E"]
    # No similarity at all (a search by words): one tier, plainly by price.
    words = [hit("A", 0.0, "50"), hit("B", 0.0, "1"), hit("C", 0.0, None)]
    assert [h.sku_id for h in ordered(words, "price_asc", floor=0.35)] == ["B", "A", "C"]


def test_sorting_by_price_does_not_promote_weak_matches(client, saved, settings):
    stored = list(saved.hits.all())
    by_name = {h.name: h for h in stored}
    assert len(by_name) == len(stored)
    # A floor that leaves a cheaper product below it than one above it, so a plain price sort would promote it.
    floor = next(
        s
        for s in sorted({h.similarity for h in stored})
        if any(
            weak.price is not None and strong.price is not None and weak.price < strong.price
            for weak in stored
            if weak.similarity < s
            for strong in stored
            if strong.similarity >= s
        )
    )
    settings.SNAPSHOP_SIMILARITY_FLOOR = floor
    for sort in ("price_asc", "price_desc"):
        html = get(client, saved, f"?sort={sort}&page=5").content.decode()
        shown = names(html)
        assert len(shown) == len(stored)
        credible = [by_name[n].similarity >= floor for n in shown]
        assert credible == sorted(credible, reverse=True), "a weak match was sorted above a credible one"
        for tier in (True, False):
            priced = [by_name[n].price for n, c in zip(shown, credible, strict=True) if c is tier]
            priced = [p for p in priced if p is not None]
            assert priced == sorted(priced, reverse=sort == "price_desc")
        # The weak ones say why they come after dearer (or cheaper) ones.
        assert weak_marks(html) == [not c for c in credible]
    assert not any(weak_marks(get(client, saved, "?page=5").content.decode()))  # best match: the order says it


def weak_marks(html: str) -> list[bool]:
    return ["data-weak-match" in card for card in html.split('<li class="card">')[1:]]


@pytest.mark.parametrize("query", ["?q=zzqxv", "?min=99999999"])
def test_a_filter_leaving_nothing_shows_no_count_of_shown_cards(client, saved, query):
    """ "0 of 0 shown" under the empty grid only repeated the notice above it."""
    html = get(client, saved, query).content.decode()
    assert not names(html) and "No products match these filters." in html
    assert 'class="shown"' not in html and "0 of 0 shown" not in html
    assert 'class="shown" role="status">4 of ' in get(client, saved).content.decode()  # a list that has cards


def test_a_price_range_typed_the_wrong_way_round_is_read_the_right_way(client, saved):
    """min=40&max=20 matched nothing and said nothing about why: the shopper meant 20 to 40."""
    html = get(client, saved, "?min=40&max=20&page=5").content.decode()
    shown = prices(html)
    assert shown and all(20 <= p <= 40 for p in shown)
    assert shown == prices(get(client, saved, "?min=20&max=40&page=5").content.decode())
    assert 'name="min" min="0" step="any" inputmode="decimal" value="20"' in html
    assert 'name="max" min="0" step="any" inputmode="decimal" value="40"' in html


def test_the_state_puts_a_reversed_price_range_in_order() -> None:
    from decimal import Decimal

    from django.http import QueryDict

    from search.refine import State

    state = State.from_query(QueryDict("min=100&max=10"))
    assert (state.price_min, state.price_max) == (Decimal(10), Decimal(100))
    assert state.query_string() == "?min=10&max=100"
    one_sided = State.from_query(QueryDict("min=100"))
    assert (one_sided.price_min, one_sided.price_max) == (Decimal(100), None)
