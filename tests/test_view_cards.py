"""The result cards' HTML (search/_cards.html): every part of a card as the shopper sees it, in both
languages, escaped."""

from __future__ import annotations

from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import translation

from search.hits import ProductHit
from search.refine import State
from search.results import Results, cards_for


def grid(hits: list[ProductHit], device: str = "pc", results: Results | None = None, language: str = "en") -> str:
    with translation.override(language):
        context: dict[str, object] = {"cards": cards_for(hits, device)}
        if results is not None:
            context["results"] = results
        return render_to_string("search/_cards.html", context)


def cards_of(html: str) -> list[str]:
    return html.split('<li class="card">')[1:]


KETTLE = ProductHit(
    sku_id="1001",
    sku_name="Kettle <1.7 L> & cup",
    sku_price=Decimal("1234.5"),
    ware_label="自营",
    similarity=0.874,
    image_url="/media/catalog/kettle.jpg",
    detail_url="https://shop.example.com/item?id=1001&ref=snap",
    detail_app_url="https://m.shop.example.com/item/1001",
    cid1="Kitchen",
    cid2="Kettles & pots",
)


def squeezed(html: str) -> str:
    """The HTML with its layout whitespace collapsed: the template's indentation is not what is tested."""
    return " ".join(html.split()).replace("> <", "><")


def test_a_card_in_full() -> None:
    html = grid([KETTLE], results=Results(cards=[]))
    assert squeezed(html) == squeezed(
        '<li class="card"><article aria-labelledby="card-1-name"><div class="card-picture">'
        '<img src="/media/catalog/kettle.jpg" alt="Kettle &lt;1.7 L&gt; &amp; cup" loading="lazy" '
        'decoding="async" width="300" height="300">'
        '<span class="similarity" title="How closely it matches your photo">87% match</span></div>'
        '<div class="card-body">'
        '<h3 class="card-name" id="card-1-name">Kettle &lt;1.7 L&gt; &amp; cup</h3>'
        '<p class="card-price"><data value="1234.5">¥1,234.50</data>'
        '<span class="label label-self">Self-operated</span></p>'
        '<p class="crumbs"><span class="visually-hidden">Category: </span>Kitchen › Kettles &amp; pots</p>'
        '<a class="button button-primary buy" href="https://shop.example.com/item?id=1001&amp;ref=snap" '
        'target="_blank" rel="noopener">View in shop<span class="visually-hidden"> — Kettle &lt;1.7 L&gt; &amp; cup '
        "(opens in a new tab)</span></a>"
        '<button type="submit" name="sku" value="1001" class="button button-small like" data-like>'
        'More like this<span class="visually-hidden"> — Kettle &lt;1.7 L&gt; &amp; cup</span></button>'
        "</div></article></li>"
    )


def test_cards_are_ranked_and_phones_get_the_app_link() -> None:
    second = ProductHit(sku_id="2", sku_name="Pot", similarity=0.5, detail_url="https://shop.example.com/2")
    first, other = cards_of(grid([KETTLE, second], device="mobile"))
    assert 'aria-labelledby="card-1-name"' in first and 'id="card-2-name"' in other
    assert 'href="https://m.shop.example.com/item/1001"' in first
    assert 'href="https://shop.example.com/2"' in other  # no app link: the PC one


def test_what_a_card_without_picture_price_label_category_or_link_shows() -> None:
    bare = ProductHit(sku_id="7", sku_name="Mystery", ware_label="非自营", similarity=0.02, source="juhe")
    (card,) = cards_of(grid([bare]))
    assert '<span class="no-picture">No picture</span>' in card and "<img" not in card
    assert '<span class="on-request">Price on request</span>' in card and "<data" not in card
    assert '<span class="label label-market">Marketplace seller</span>' in card
    assert "crumbs" not in card and "buy" not in card
    assert "data-like" not in card  # a Juhe hit has no local pictures to search with
    assert "2% match" in card and "data-weak-match" not in card  # weak matches are marked only by price


def test_a_catalog_product_without_shop_links_links_its_own_page() -> None:
    plain = ProductHit(sku_id="AB/12", sku_name="Plain", similarity=0.5, image_url="/media/ab12.jpg")
    (card,) = cards_of(grid([plain]))
    assert '<a class="button buy" href="/p/AB%2F12/" data-product-page>Details' in card and "View in shop" not in card
    assert "data-like" in card and "label-source" not in card  # a local hit: no source to tell


def test_a_card_says_which_backend_found_it_and_both_keep_more_like_this() -> None:
    juhe = ProductHit(sku_id="9", sku_name="Theirs", similarity=0.5, source="juhe")
    both = ProductHit(sku_id="10", sku_name="Ours too", similarity=0.5, source="local+juhe", image_url="/media/p10.jpg")
    theirs, ours = cards_of(grid([juhe, both]))
    assert '<span class="label label-source" data-source="juhe">Found by Juhe</span>' in theirs
    assert "data-like" not in theirs and "data-product-page" not in theirs
    assert '<span class="label label-source" data-source="local+juhe">Found here and by Juhe</span>' in ours
    assert "data-like" in ours and 'href="/p/10/"' in ours
    with translation.override("zh-hans"):
        assert "来自聚合数据" in grid([juhe], language="zh-hans")


def test_a_weak_match_is_marked_when_sorted_by_price() -> None:
    weak = ProductHit(sku_id="8", sku_name="Far", similarity=0.1)
    by_price = Results(cards=[], state=State(sort="price_asc"))
    close, far = cards_of(grid([KETTLE, weak], results=by_price))
    assert "data-weak-match" not in close
    assert '<p class="weak-match" data-weak-match>A weaker match: listed after the closer ones</p>' in far
    textual = Results(cards=[], state=State(sort="price_asc"), textual=True)
    assert "data-weak-match" not in grid([weak], results=textual)


def test_a_search_by_words_shows_no_similarity() -> None:
    (card,) = cards_of(grid([KETTLE], results=Results(cards=[], textual=True)))
    assert "similarity" not in card and "match" not in card


def test_cards_in_chinese() -> None:
    (card,) = cards_of(grid([KETTLE], language="zh-hans"))
    assert '<span class="similarity" title="与你的照片的相似程度">相似度 87%</span>' in card
    assert ">去购买<" in card and ">找相似<" in card and '<span class="label label-self">自营</span>' in card
    assert '<data value="1234.5">¥1234.50</data>' in card


def test_no_cards_no_html() -> None:
    assert grid([]) == "\n"
