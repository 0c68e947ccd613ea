"""GET /find/?q= — a plain text search over the catalog, for a shopper without a photo."""

from __future__ import annotations

from tests.ui_fixtures import HTMX, english_afterwards  # noqa: F401 (autouse fixture)


def test_finds_products_by_name(client, small_catalog):
    name = small_catalog[5].product.name
    html = client.get("/find/", {"q": name}).content.decode()
    assert f">{name}</h3>" in html


def test_no_similarity_is_shown(client, small_catalog):
    html = client.get("/find/", {"q": small_catalog[5].product.name}).content.decode()
    assert "% match" not in html


def test_htmx_gets_the_fragment(client, small_catalog):
    html = client.get("/find/", {"q": small_catalog[5].product.name}, headers=HTMX).content.decode()
    assert not html.startswith("<!doctype") and 'id="grid"' in html


def test_htmx_leaves_the_words_box_alone(client, small_catalog):
    # The box keeps the shopper's focus and words; a photo search's fragment empties it (out of band).
    text = client.get("/find/", {"q": small_catalog[5].product.name}, headers=HTMX).content.decode()
    photo = client.post("/search/", {"sku": small_catalog[5].product.sku_id}, headers=HTMX).content.decode()
    assert 'id="text-q"' not in text
    assert (
        '<input type="search" id="text-q" name="q" maxlength="100" autocomplete="off" value="" hx-swap-oob="true">'
        in photo
    )


def test_no_match_says_so(client, small_catalog):
    response = client.get("/find/", {"q": "zzzqqq"})
    assert response.status_code == 200 and 'data-error-code="no_results"' in response.content.decode()


def test_empty_words_ask_for_words(client, db):
    html = client.get("/find/", {"q": " "}).content.decode()
    assert 'data-error-code="no_words"' in html
    assert "<h2" in html and "What are you looking for?</h2>" in html  # not "We could not use this photo"
    assert "<p>Type what you are looking for, or search with a photo.</p>" in html
    zh = client.get("/find/", {"q": " "}, headers={"accept-language": "zh-CN"}).content.decode()
    assert "你想找什么？</h2>" in zh  # 你 as everywhere else on the site, not the formal 您 (QA20 #9)


def test_home_page_has_the_text_search_form(client, db):
    html = client.get("/").content.decode()
    assert 'action="/find/"' in html and 'name="q"' in html


def test_a_control_character_separates_words_and_never_matches_everything(client, small_catalog):
    """SQLite's LIKE ends its pattern at a NUL: "\\0zzzqqq" once matched the whole catalog."""
    response = client.get("/find/", {"q": "\x00zzzqqq"})
    assert 'data-error-code="no_results"' in response.content.decode() and "\x00" not in response.content.decode()
    name = small_catalog[5].product.name
    assert f">{name}</h3>" in client.get("/find/", {"q": "\x00" + name}).content.decode()


def test_any_alphabet_is_found_in_any_case(client, small_catalog):
    """SQLite folds ASCII only: "café" missed "CAFÉ", "münchen" missed "MÜNCHEN" (the photo keyword box found them)."""
    product = small_catalog[5].product
    product.name, product.description = "Ärmel CAFÉ Straße", "Grüße aus MÜNCHEN, ΚΑΦΈΣ"
    product.save()
    for words in ("ärmel", "Café", "münchen", "ÄRMEL straße", "καφές"):
        html = client.get("/find/", {"q": words}).content.decode()
        assert f"{product.sku_id}" in html and "Ärmel CAFÉ Straße" in html, words


def test_more_than_a_hundred_matches_are_sorted_by_price_before_the_cut_and_said(client, db):
    """The first 100 names were cut off, then sorted: the cheapest matches (named late) never showed."""
    from decimal import Decimal

    from catalog.models import Product

    Product.objects.bulk_create(
        [Product(sku_id=f"w{n}", name=f"Widget {n:03d}", price=Decimal(500 - n)) for n in range(150)]
    )
    html = client.get("/find/", {"q": "widget", "sort": "price_asc"}).content.decode()
    assert ">Widget 149</h3>" in html  # the cheapest, 150th by name
    assert "More than 100 products have these words; the first 100 are shown." in html
    assert "More than 100" not in client.get("/find/", {"q": "widget 007"}).content.decode()


def test_the_results_vary_on_the_user_agent(client, small_catalog):
    """Their buy links are chosen by it."""
    assert "User-Agent" in client.get("/find/?q=" + small_catalog[0].product.name.split()[0])["Vary"]


def title(html: str) -> str:
    return html[html.index("<title>") + len("<title>") : html.index("</title>")]


def test_the_page_is_titled_with_the_words(client, small_catalog):
    assert title(client.get("/find/", {"q": "camera"}).content.decode()) == "“camera” — SnapShop"
    zh = client.get("/find/", {"q": "camera"}, headers={"accept-language": "zh-CN"}).content.decode()
    assert title(zh) == "“camera” — SnapShop"


def test_the_words_in_the_title_are_escaped(client, db):
    html = client.get("/find/", {"q": "<b>&"}).content.decode()
    assert title(html) == "“&lt;b&gt;&amp;” — SnapShop"


def test_htmx_fragment_carries_the_title(client, small_catalog):
    html = client.get("/find/", {"q": "camera"}, headers=HTMX).content.decode()
    assert "<title>“camera” — SnapShop</title>" in html


def test_no_words_keep_the_sites_title(client, db):
    assert title(client.get("/find/", {"q": ""}).content.decode()) == "SnapShop — search by photo"
