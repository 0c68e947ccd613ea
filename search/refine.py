"""Refining a result list: the state in the URL (filters, sort, page, keyword), facets, order and paging.

The state lives in the query string, so a shared link, a reload and the back button all show the
same page. Category, price and self-operated filters go into the search engine (`vectors.base.Filter`):
a filtered search is a new search within the filter, not a post-filter of the first page. The keyword
narrows the list found; the sort orders it; the page says how many cards are shown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.conf import settings
from django.http import QueryDict

from search.hits import ProductHit
from vectors.base import Filter

MAX_RESULTS = 100
SORTS = ("best", "price_asc", "price_desc")


def _words(text: str) -> str:
    """The words of a query, one space apart; control characters separate words too (SQLite's LIKE ends its
    pattern at a NUL, so "\\0abc" matched the whole catalog)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:100]


def _decimal(value: str | None) -> Decimal | None:
    try:
        number = Decimal((value or "").strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number >= 0 else None


def page_size() -> int:
    """Cards per page (SNAPSHOP_RESULTS_PER_PAGE), at most the 100 a search keeps."""
    return min(max(int(settings.SNAPSHOP_RESULTS_PER_PAGE), 1), MAX_RESULTS)


def max_page() -> int:
    return -(-MAX_RESULTS // page_size())


def _page(value: str | None) -> int:
    try:
        return min(max(int(value or "1"), 1), max_page())
    except ValueError:
        return 1


@dataclass(frozen=True)
class State:
    cid1: str = ""
    cid2: str = ""
    cid3: str = ""
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    self_only: bool = False
    sort: str = "best"
    page: int = 1
    q: str = ""

    @classmethod
    def from_query(cls, query: QueryDict) -> State:
        cid1 = query.get("cid1", "").strip()[:100]
        cid2 = query.get("cid2", "").strip()[:100] if cid1 else ""
        cid3 = query.get("cid3", "").strip()[:100] if cid2 else ""
        sort = query.get("sort", "best")
        price_min, price_max = _decimal(query.get("min")), _decimal(query.get("max"))
        if price_min is not None and price_max is not None and price_min > price_max:
            # "100 to 10" is a range typed the wrong way round, not a wish for nothing: taken as written, it
            # matched no product and the page never said why. Read it as 10 to 100.
            price_min, price_max = price_max, price_min
        return cls(
            cid1=cid1,
            cid2=cid2,
            cid3=cid3,
            price_min=price_min,
            price_max=price_max,
            self_only=query.get("self") in {"1", "on", "true"},
            sort=sort if sort in SORTS else "best",
            page=_page(query.get("page")),
            q=_words(query.get("q", "")),
        )

    def params(self) -> dict[str, str]:
        """The non-default parts, as query-string pairs (stable order)."""
        pairs = {
            "q": self.q,
            "cid1": self.cid1,
            "cid2": self.cid2,
            "cid3": self.cid3,
            "min": "" if self.price_min is None else str(self.price_min),
            "max": "" if self.price_max is None else str(self.price_max),
            "self": "1" if self.self_only else "",
            "sort": "" if self.sort == "best" else self.sort,
            "page": "" if self.page == 1 else str(self.page),
        }
        return {key: value for key, value in pairs.items() if value}

    def query_string(self, **changes: object) -> str:
        state = replace(self, **changes) if changes else self  # type: ignore[arg-type]
        params = state.params()
        return "?" + urlencode(params) if params else ""

    def engine_filter(self) -> Filter | None:
        flt = Filter(
            cid1=self.cid1 or None,
            cid2=self.cid2 or None,
            cid3=self.cid3 or None,
            price_min=float(self.price_min) if self.price_min is not None else None,
            price_max=float(self.price_max) if self.price_max is not None else None,
            self_operated=True if self.self_only else None,
        )
        return None if flt.is_empty() else flt

    @property
    def refined(self) -> bool:
        """Anything besides the page changes what is shown."""
        return bool(set(self.params()) - {"page"})

    @property
    def shown(self) -> int:
        return min(self.page * page_size(), MAX_RESULTS)

    @property
    def by_price(self) -> bool:
        return self.sort in {"price_asc", "price_desc"}

    @property
    def similarity_floor(self) -> float:
        """Hits below it are weak matches: by price they follow the credible ones, marked as weak."""
        return float(settings.SNAPSHOP_SIMILARITY_FLOOR)


@dataclass
class CategoryOption:
    name: str
    count: int
    query: str  # the query string that selects it


@dataclass
class Facets:
    path: list[CategoryOption] = field(default_factory=list)  # the categories chosen, each a link back up
    options: list[CategoryOption] = field(default_factory=list)  # the next level down, with counts
    all_query: str = ""  # no category
    price_low: Decimal | None = None
    price_high: Decimal | None = None
    self_count: int = 0


def facets(hits: list[ProductHit], state: State) -> Facets:
    """Category drill-down (cid1 › cid2 › cid3 with counts), the price range and the self-operated count."""
    top = replace(state, page=1)
    chosen = [c for c in (state.cid1, state.cid2, state.cid3) if c]
    out = Facets(all_query=top.query_string(cid1="", cid2="", cid3=""))
    for level, name in enumerate(chosen, start=1):
        picks = {f"cid{n}": (chosen[n - 1] if n <= level else "") for n in (1, 2, 3)}
        inside = [h for h in hits if [h.cid1, h.cid2, h.cid3][:level] == chosen[:level]]
        out.path.append(CategoryOption(name, len(inside), top.query_string(**picks)))
    level = len(chosen)
    if level < 3:
        inside = [h for h in hits if [h.cid1, h.cid2, h.cid3][:level] == chosen]
        counts = Counter(getattr(h, f"cid{level + 1}") for h in inside)
        for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if name:
                picks = {f"cid{n}": (chosen[n - 1] if n <= level else "") for n in (1, 2, 3)}
                picks[f"cid{level + 1}"] = name
                out.options.append(CategoryOption(name, count, top.query_string(**picks)))
    prices = [h.sku_price for h in hits if h.sku_price is not None]
    if prices:
        out.price_low, out.price_high = min(prices), max(prices)
    out.self_count = sum(1 for h in hits if h.ware_label == "自营")
    return out


def credible(hit: ProductHit, floor: float | None = None) -> bool:
    """The hit is at or above the similarity floor (SNAPSHOP_SIMILARITY_FLOOR): a match worth ranking."""
    return hit.similarity >= (settings.SNAPSHOP_SIMILARITY_FLOOR if floor is None else floor)


def ordered(hits: list[ProductHit], sort: str, floor: float | None = None) -> list[ProductHit]:
    """Best match keeps the engine's order. By price, the credible matches (at or above the similarity
    floor) come first, by price, then the weak ones, by price: a low price never lifts a hit that does not
    look like the photo above one that does. Products without a price go last within their tier.
    Hits with no similarity at all (a search by words) are one tier, so they are simply sorted by price."""
    if sort not in {"price_asc", "price_desc"}:
        return list(hits)
    sign = 1 if sort == "price_asc" else -1
    return sorted(hits, key=lambda h: (not credible(h, floor), h.sku_price is None, sign * (h.sku_price or 0)))


def words_match(hit: ProductHit, words: list[str]) -> bool:
    text = f"{hit.sku_name} {hit.description}".casefold()
    return all(word.casefold() in text for word in words)


def within(hits: list[ProductHit], flt: Filter | None) -> list[ProductHit]:
    """Hits inside a filter (for lists that did not come from the vector store: stored hits, text search)."""
    if flt is None:
        return hits
    from vectors.base import Attributes

    def attrs(h: ProductHit) -> Attributes:
        label = {"自营": True, "非自营": False}.get(h.ware_label)
        price = float(h.sku_price) if h.sku_price is not None else None
        return Attributes(product=0, cid1=h.cid1, cid2=h.cid2, cid3=h.cid3, price=price, self_operated=label)

    return [h for h in hits if flt.matches(attrs(h))]
