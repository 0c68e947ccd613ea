"""What a results page shows: product cards with the buy link for the shopper's device, or an error in their
place, made from a search just answered or from one saved in history."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.utils.formats import number_format
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from catalog.models import product_path
from search.forms import error_text
from search.hits import ProductHit
from search.juhe_errors import is_service_failure
from search.models import Search
from search.notices import notice_now
from search.photo import QueryPhoto
from search.refine import Facets, State, max_page
from search.services import SearchOutcome

# Status codes by error: the photo cannot be used (422, the default), too many searches (429), the engine
# is down (503); "no results" is an answer (200).
ERROR_STATUS = {"rate_limited": 429, "no_results": 200}  # the rest: 503 if the service failed, else 422 (the photo)
SERVICE_FAILURES = {"engine_unavailable", "search_failed"}  # and Juhe's own (search.juhe_errors.is_service_failure)


@dataclass
class Card:
    """A product hit as one card shows it; the buy link is chosen for the shopper's device."""

    hit: ProductHit
    buy_link: str
    rank: int

    @property
    def percent(self) -> int:
        return max(0, min(100, round(self.hit.similarity * 100)))

    @property
    def price(self) -> Decimal | None:
        return self.hit.sku_price

    @property
    def name(self) -> SafeString:
        """The product's name, escaped once for the five places a card shows it."""
        return conditional_escape(self.hit.sku_name)

    @property
    def price_value(self) -> str:
        """The price as a machine reads it (a <data> value): never localised."""
        return "" if self.price is None else str(self.price)

    @property
    def price_text(self) -> str:
        """The price with two decimals, grouped as the active language groups them (the floatformat filter's "2g",
        at a third of its cost)."""
        return "" if self.price is None else number_format(self.price, 2, force_grouping=True)

    @property
    def crumbs(self) -> str:
        """The category breadcrumb, cid1 › cid2 › cid3."""
        return " › ".join(self.hit.category_path)

    @property
    def page_link(self) -> str:
        """The product's own page (for a card without a shop link)."""
        return product_path(self.hit.sku_id)

    @property
    def name_id(self) -> str:
        """The id of the card's name (its article's label)."""
        return f"card-{self.rank}-name"

    @property
    def match(self) -> str:
        """ "87% match", translated: a blocktranslate tag on each card cost 14 µs of it."""
        return gettext("%(percent)s%% match") % {"percent": self.percent}


@dataclass
class Results:
    """Everything the results fragment shows: cards, or an error in their place."""

    cards: list[Card]
    search: Search | None = None
    error_code: str = ""
    error_message: str = ""
    notice: str = ""
    uncertain: bool = False
    # Refining (issue 5): the state in the URL, the page's own URL, how many hits in all, the facets.
    state: State = field(default_factory=State)
    base_url: str = ""
    total: int = 0
    facets: Facets | None = None
    textual: bool = False  # found by words, not by a photo: no similarity to show
    photo: QueryPhoto | None = None

    @property
    def heading_count(self) -> int:
        """How many products the heading counts: all the search's hits (a saved search), else the cards."""
        return self.total if self.base_url else len(self.cards)

    @property
    def shown_count(self) -> int:
        return min(self.state.shown, self.total)

    @property
    def page_url(self) -> str:
        return self.base_url + self.state.query_string()

    @property
    def more_query(self) -> str:
        """The query string of the next page, or "" when everything (or the cap of 100) is shown."""
        if self.total > self.state.shown and self.state.page < max_page():
            return self.state.query_string(page=self.state.page + 1)
        return ""

    @property
    def service_failed(self) -> bool:
        """The search service failed, not the photo: "Search is unavailable", 503."""
        return self.error_code in SERVICE_FAILURES or is_service_failure(self.error_code)

    @property
    def status(self) -> int:
        if not self.error_code:
            return 200
        return 503 if self.service_failed else ERROR_STATUS.get(self.error_code, 422)

    @property
    def title(self) -> str:
        """The page's <title>, what was searched: the words, the product "more like this" was asked of, or the
        shopper's photo (a saved search); the site's own when nothing was searched (a refusal, an empty query)."""
        if self.textual and self.state.q:
            searched = gettext("“%(words)s”") % {"words": self.state.q}
        elif self.photo is not None and self.photo.product_name:
            searched = gettext("Products like “%(name)s”") % {"name": self.photo.product_name}
        elif self.search is not None:
            searched = gettext("Results for your photo")
        else:
            return gettext("SnapShop — search by photo")
        return f"{searched} — SnapShop"  # as the product page and the status pages end theirs

    @property
    def thumbnail_url(self) -> str:
        return self.search.thumbnail.url if self.search and self.search.thumbnail else ""


def cards_for(hits: list[ProductHit], device: str, start: int = 1) -> list[Card]:
    return [Card(hit=hit, buy_link=hit.buy_link(device), rank=rank) for rank, hit in enumerate(hits, start=start)]


def shopper_error_text(code: str, message: str) -> str:
    """The error message a shopper reads; a Juhe service failure's own (its key, its quota: for an administrator,
    kept in history) becomes "not available right now"."""
    if is_service_failure(code):
        return error_text("engine_unavailable")
    return error_text(code, message)


def results_from_outcome(outcome: SearchOutcome, search: Search | None, device: str) -> Results:
    return Results(
        cards=cards_for(outcome.hits, device),
        search=search,
        error_code=outcome.error_code,
        error_message=shopper_error_text(outcome.error_code, outcome.error_message) if outcome.error_code else "",
        notice=outcome.notice,
        uncertain=outcome.uncertain,
    )


def results_from_saved(
    search: Search, device: str, hits: list[ProductHit] | None = None, *, cards: bool = True
) -> Results:
    """The saved search's hits as cards (`cards=False`: the caller pages them itself)."""
    hits = search.product_hits() if hits is None else hits
    return Results(
        cards=cards_for(hits, device) if cards else [],
        search=search,
        error_code=search.error_code,
        error_message=shopper_error_text(search.error_code, search.error_message) if search.error_code else "",
        notice=notice_now(search.notice),
        uncertain=bool(hits) and hits[0].similarity < settings.SNAPSHOP_SIMILARITY_FLOOR,
    )
