"""The product-hit type every backend returns; field names follow the Juhe API."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

# Prices are stored in columns of 12 digits, 2 of them cents. SQLite does not enforce that, and Django then
# fails to read the row back (every page listing the product answered 500): nothing at or above this is kept.
PRICE_LIMIT = Decimal("1e10")
CENTS = Decimal("0.01")
# A skuId the API writes as a JSON number: ASCII digits without a leading zero (an EAN's zeros would be lost),
# small enough for a JavaScript client's numbers (2^53); and 0 itself.
NUMERIC_SKU = re.compile(r"0|[1-9][0-9]{0,14}")


def parse_price(value: object) -> Decimal | None:
    """The price rounded to cents, or None when it is not one (or negative). One at or above PRICE_LIMIT
    (after rounding) is returned as is: the caller refuses it or, with `storable_price`, drops it."""
    if value is None or value == "":
        return None
    try:
        price = Decimal(str(value).strip().replace(",", "").lstrip("¥￥$"))
    except (InvalidOperation, ValueError):
        return None
    if not price.is_finite() or price < 0:
        return None
    return price.quantize(CENTS, ROUND_HALF_UP) if price < PRICE_LIMIT else price


def storable_price(value: object) -> Decimal | None:
    """An upstream's price as we keep it: unknown when it is not a price or too large to store."""
    price = parse_price(value)
    return price if price is not None and price < PRICE_LIMIT else None


def safe_link(url: str) -> str:
    """Only http(s) links are ever rendered; anything else (javascript:, data:...) becomes no link."""
    url = (url or "").strip()
    seen = url.replace("\\", "/").translate({9: None, 10: None, 13: None})  # as a browser reads it: "/\\x" is "//x"
    return url if seen.lower().startswith(("http://", "https://", "/")) and not seen.startswith("//") else ""


@dataclass
class ProductHit:
    sku_id: str
    sku_name: str
    sku_price: Decimal | None = None
    ware_label: str = ""
    similarity: float = 0.0
    image_url: str = ""
    detail_url: str = ""
    detail_app_url: str = ""
    cid1: str = ""
    cid2: str = ""
    cid3: str = ""
    all_image_urls: list[str] = field(default_factory=list)
    description: str = ""
    source: str = "local"  # which backend found it: local or juhe

    def __post_init__(self) -> None:
        # Pictures come from catalog files and upstream APIs: only http(s) or same-site ones are ever shown.
        self.image_url = safe_link(self.image_url)
        self.all_image_urls = [url for url in map(safe_link, self.all_image_urls) if url]

    @property
    def category_path(self) -> list[str]:
        return [c for c in (self.cid1, self.cid2, self.cid3) if c]

    @property
    def in_catalog(self) -> bool:
        """Found in the local catalog (alone or with Juhe): it has a product page and "more like this"."""
        return "local" in self.source.split("+")

    def buy_link(self, device: str) -> str:
        """The PC link for desktop browsers, the mobile one for phones and tablets; either if only one exists."""
        pc, mobile = safe_link(self.detail_url), safe_link(self.detail_app_url)
        if device == "mobile":
            return mobile or pc
        return pc or mobile

    def to_juhe(self) -> dict[str, Any]:
        """The hit as the Juhe API serialises it (skuPrice a string, similarity a number)."""
        sku: int | str = int(self.sku_id) if NUMERIC_SKU.fullmatch(self.sku_id) else self.sku_id
        return {
            "skuId": sku,
            "skuName": self.sku_name,
            "skuPrice": "" if self.sku_price is None else f"{self.sku_price:.2f}",
            "wareLabel": self.ware_label,
            "similarity": round(float(self.similarity), 6),
            "imageUrl": self.image_url,
            "detailUrl": self.detail_url,
            "detailAppUrl": self.detail_app_url,
            "cid1Name": self.cid1,
            "cid2Name": self.cid2,
            "cid3Name": self.cid3,
            "allImageUrls": list(self.all_image_urls),
        }

    @staticmethod
    def usable_juhe_item(item: object) -> bool:
        """An upstream hit that can make a card and a catalog product: a skuId that is a string or an integer (Juhe
        documents a number; true, [1] or 7.5 became products "True", "[1]" and "7.5") and a name."""
        if not isinstance(item, dict):
            return False
        sku = item.get("skuId")
        usable_id = (isinstance(sku, str) and sku.strip() != "") or (isinstance(sku, int) and not isinstance(sku, bool))
        return usable_id and bool(str(item.get("skuName") or "").strip())

    @classmethod
    def from_juhe(cls, item: dict[str, Any], *, source: str = "juhe") -> ProductHit:
        """Tolerant of missing, extra and oddly typed fields."""

        def text(key: str) -> str:
            value = item.get(key)
            return "" if value is None else str(value)

        try:
            similarity = float(item.get("similarity") or 0.0)
        except (TypeError, ValueError):
            similarity = 0.0
        if not math.isfinite(similarity):  # "NaN" and "Infinity" parse; neither can be shown or stored
            similarity = 0.0
        # Juhe's similarity lies in 0..1: 1e308 from a broken upstream overflowed the card's percentage (a 500).
        similarity = min(max(similarity, 0.0), 1.0)
        images = item.get("allImageUrls")
        return cls(
            sku_id=text("skuId"),
            sku_name=text("skuName"),
            sku_price=storable_price(item.get("skuPrice")),
            ware_label=text("wareLabel"),
            similarity=similarity,
            image_url=text("imageUrl"),
            detail_url=text("detailUrl"),
            detail_app_url=text("detailAppUrl"),
            cid1=text("cid1Name"),
            cid2=text("cid2Name"),
            cid3=text("cid3Name"),
            all_image_urls=[str(u) for u in images] if isinstance(images, list) else [],
            source=source,
        )
