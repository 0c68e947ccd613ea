from __future__ import annotations

from typing import Any

from django.db import connection, models
from django.utils.translation import gettext_lazy as _

from search.hits import ProductHit


class SearchQuerySet(models.QuerySet["Search"]):
    def for_session(self, session_key: str | None) -> SearchQuerySet:
        if not session_key:
            return self.none()
        return self.filter(session_key=session_key)

    def answered(self) -> SearchQuerySet:
        return self.filter(error_code="")


class Search(models.Model):
    class Device(models.TextChoices):
        PC = "pc", _("desktop")
        MOBILE = "mobile", _("phone or tablet")

    class Channel(models.TextChoices):
        WEB = "web", _("web page")
        API = "api", _("Juhe-compatible API")

    created = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    photo = models.ImageField(_("photo"), upload_to="searches/%Y/%m/%d/", blank=True)
    thumbnail = models.ImageField(_("thumbnail"), upload_to="searches/thumbs/%Y/%m/%d/", blank=True)
    photo_width = models.PositiveIntegerField(_("photo width"), null=True, blank=True)
    photo_height = models.PositiveIntegerField(_("photo height"), null=True, blank=True)
    session_key = models.CharField(_("session"), max_length=64, blank=True, db_index=True)
    device = models.CharField(_("device"), max_length=10, choices=Device.choices, default=Device.PC)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.WEB)
    backend = models.CharField(_("backend asked"), max_length=10, default="local")
    answered_by = models.CharField(_("answered by"), max_length=20, blank=True)
    result_count = models.PositiveIntegerField(_("results"), default=0)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    error_code = models.CharField(_("error code"), max_length=40, blank=True, db_index=True)
    error_message = models.TextField(_("error message"), blank=True)
    notice = models.TextField(_("notice"), blank=True, help_text=_("e.g. a fallback from Juhe to the local engine"))
    request_id = models.CharField(_("request id"), max_length=64, blank=True, db_index=True)
    upstream_request_id = models.CharField(_("Juhe request id"), max_length=64, blank=True)
    region = models.JSONField(_("region searched"), null=True, blank=True)
    filters = models.JSONField(_("filters"), null=True, blank=True)
    # Candidate subjects of the photo ([[x0, y0, x1, y1], ...] in fractions, best first) and quality hints.
    subjects = models.JSONField(_("subjects found"), null=True, blank=True)
    hints = models.JSONField(_("photo hints"), null=True, blank=True)
    # "More like this": the catalog product whose picture this search was made with. Its results leave the
    # product itself out (the shopper asked for others), and the page names it instead of "your photo".
    like_sku = models.CharField(_("more like this product"), max_length=64, blank=True)

    objects = SearchQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-pk"]
        verbose_name = _("search")
        verbose_name_plural = _("searches")

    def __str__(self) -> str:
        return f"#{self.pk} {self.created:%Y-%m-%d %H:%M} {self.backend}"

    @property
    def failed(self) -> bool:
        return bool(self.error_code)

    def like_name(self) -> str:
        """The name of the product a "more like this" search was made from ("" for a shopper's photo); its
        skuId once the product is gone from the catalog."""
        if not self.like_sku:
            return ""
        from catalog.models import Product

        return Product.objects.filter(sku_id=self.like_sku).values_list("name", flat=True).first() or self.like_sku

    def delete_files(self) -> None:
        for field in (self.photo, self.thumbnail):
            if field:
                field.delete(save=False)

    def save_hits(self, hits: list[ProductHit]) -> None:
        """The hits' rows in rank order, in one executemany: a tenth of what `bulk_create` spends on 100
        rows preparing every field of every model instance."""
        if not hits:
            return
        rows = [SearchHit.columns_for(hit) for hit in hits]
        fields = [SearchHit._meta.get_field(name) for name in ("search", "rank", *rows[0])]
        columns = [str(getattr(f, "column", "")) for f in fields]
        price = SearchHit._meta.get_field("price")
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(SearchHit._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        params: list[tuple[Any, ...]] = []
        for rank, row in enumerate(rows, start=1):
            row["price"] = price.get_db_prep_save(row["price"], connection)
            params.append((self.pk, rank, *row.values()))
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)

    def product_hits(self) -> list[ProductHit]:
        return [hit.as_product_hit() for hit in self.hits.all()]


class SearchHit(models.Model):
    search = models.ForeignKey(Search, on_delete=models.CASCADE, related_name="hits", verbose_name=_("search"))
    rank = models.PositiveSmallIntegerField(_("rank"))
    sku_id = models.CharField(_("SKU id"), max_length=64)
    name = models.CharField(_("name"), max_length=500)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2, null=True, blank=True)
    ware_label = models.CharField(_("label"), max_length=32, blank=True)
    similarity = models.FloatField(_("similarity"))
    cid1 = models.CharField(_("category 1"), max_length=100, blank=True)
    cid2 = models.CharField(_("category 2"), max_length=100, blank=True)
    cid3 = models.CharField(_("category 3"), max_length=100, blank=True)
    image_url = models.CharField(_("picture link"), max_length=1000, blank=True)
    detail_url = models.CharField(_("PC link"), max_length=1000, blank=True)
    detail_app_url = models.CharField(_("mobile link"), max_length=1000, blank=True)
    source = models.CharField(_("source"), max_length=10, default="local")

    class Meta:
        ordering = ["search", "rank"]
        constraints = [models.UniqueConstraint(fields=["search", "rank"], name="unique_rank_per_search")]
        verbose_name = _("hit")
        verbose_name_plural = _("hits")

    def __str__(self) -> str:
        return f"{self.rank}. {self.name}"

    @property
    def category_path(self) -> str:
        return " › ".join(c for c in (self.cid1, self.cid2, self.cid3) if c)

    @staticmethod
    def columns_for(hit: ProductHit) -> dict[str, object]:
        """A hit as its row holds it (each text cut to its column), by field name, without search and rank."""
        return {
            "sku_id": hit.sku_id[:64],
            "name": hit.sku_name[:500],
            "price": hit.sku_price,
            "ware_label": hit.ware_label[:32],
            "similarity": hit.similarity,
            "cid1": hit.cid1[:100],
            "cid2": hit.cid2[:100],
            "cid3": hit.cid3[:100],
            "image_url": hit.image_url[:1000],
            "detail_url": hit.detail_url[:1000],
            "detail_app_url": hit.detail_app_url[:1000],
            "source": hit.source,
        }

    def as_product_hit(self) -> ProductHit:
        return ProductHit(
            sku_id=self.sku_id,
            sku_name=self.name,
            sku_price=self.price,
            ware_label=self.ware_label,
            similarity=self.similarity,
            image_url=self.image_url,
            detail_url=self.detail_url,
            detail_app_url=self.detail_app_url,
            cid1=self.cid1,
            cid2=self.cid2,
            cid3=self.cid3,
            source=self.source,
        )
