"""GET /p/<skuId>/ — the "Looks similar" section: nearest neighbours of the product's own pictures."""

from __future__ import annotations

import re

from tests.ui_fixtures import english_afterwards  # noqa: F401 (autouse fixture)


def test_shows_other_products_not_itself(client, small_catalog):
    product = small_catalog[0].product
    html = client.get(f"/p/{product.sku_id}/").content.decode()
    section = html[html.index('id="similar-title"') :]
    names = re.findall(r'class="card-name" id="card-\d+-name">([^<]+)</h3>', section)
    assert names and product.name not in names and len(names) <= 8


def test_more_like_this_is_a_plain_form_there(client, small_catalog):
    html = client.get(f"/p/{small_catalog[0].product.sku_id}/").content.decode()
    assert 'class="like-form" action="/search/" method="post">' in html


def test_the_neighbours_carry_no_match_badge(client, small_catalog):
    """A search's card says how closely it matches the shopper's photo. A product page has no photo, and its
    neighbours' cosine is not on a search's scale (54 % here against 28 % for the same pair by "More like this")."""
    html = client.get(f"/p/{small_catalog[0].product.sku_id}/").content.decode()
    section = html[html.index('id="similar-title"') :]
    assert 'class="card-name"' in section
    assert 'class="similarity"' not in section and "matches your photo" not in section
