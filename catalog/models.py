from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

import numpy as np
from django.core.files.base import ContentFile
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


def product_path(sku_id: str) -> str:
    """The product page's address, its skuId one path segment whatever it holds: a "/" is sent as %2F (the
    server reads it back as "/"), so a skuId such as "x/../y" is not a dot segment that browsers remove
    (its link opened /p/y/, a 404)."""
    prefix = reverse("product", args=["-"]).removesuffix("-/")
    return f"{prefix}{quote(sku_id, safe='')}/"


class ProductQuerySet(models.QuerySet["Product"]):
    def text_search(self, words: str) -> ProductQuerySet:
        """Products whose name or description holds every word, in any case of any alphabet."""
        from catalog.textsearch import Lowered

        qs = self.alias(lowered_name=Lowered("name"), lowered_description=Lowered("description"))
        for word in words.lower().split():
            qs = qs.filter(models.Q(lowered_name__contains=word) | models.Q(lowered_description__contains=word))
        return qs


class Product(models.Model):
    sku_id = models.CharField(_("SKU id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=500)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2, null=True, blank=True)
    ware_label = models.CharField(_("label"), max_length=32, blank=True, help_text=_("自营 / 非自营"))
    cid1 = models.CharField(_("category 1"), max_length=100, blank=True, db_index=True)
    cid2 = models.CharField(_("category 2"), max_length=100, blank=True, db_index=True)
    cid3 = models.CharField(_("category 3"), max_length=100, blank=True, db_index=True)
    detail_url = models.CharField(_("PC link"), max_length=1000, blank=True)
    detail_app_url = models.CharField(_("mobile link"), max_length=1000, blank=True)
    description = models.TextField(_("description"), blank=True)
    source = models.CharField(_("source"), max_length=20, default="import", help_text=_("import, demo or juhe"))
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["sku_id"]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.sku_id} {self.name}"

    def get_absolute_url(self) -> str:
        return product_path(self.sku_id)

    @property
    def self_operated(self) -> bool | None:
        if self.ware_label == "自营":
            return True
        if self.ware_label == "非自营":
            return False
        return None

    @property
    def category_path(self) -> list[str]:
        return [c for c in (self.cid1, self.cid2, self.cid3) if c]

    def price_value(self) -> float | None:
        return float(self.price) if isinstance(self.price, Decimal) else None


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images", verbose_name=_("product"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    image = models.ImageField(_("picture"), upload_to="catalog/%Y/%m/", blank=True)
    source_url = models.CharField(_("source"), max_length=1000, blank=True)
    content_hash = models.CharField(_("content hash"), max_length=64, blank=True, db_index=True)
    # The engine's outputs, kept so that a restart or a lost index file needs no re-embedding.
    vector = models.BinaryField(_("vector"), null=True, blank=True, editable=False)
    extras = models.BinaryField(_("extra features"), null=True, blank=True, editable=False)
    features_version = models.CharField(_("features version"), max_length=40, blank=True, editable=False)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["product", "position", "pk"]
        verbose_name = _("product picture")
        verbose_name_plural = _("product pictures")

    def __str__(self) -> str:
        return f"{self.product.sku_id} #{self.position}"

    def store_file(self, name: str, data: bytes) -> None:
        """Write the picture's file (not the row). A file of that name that no row references was left by an
        import stopped inside its transaction (its rows rolled back, its files not): it is taken over, so a
        resumed import leaves no stray copy beside the one it writes (QA20: 430 files for 400 pictures)."""
        target = self.image.field.generate_filename(self, name)
        storage = self.image.storage
        if storage.exists(target) and not ProductImage.objects.filter(image=target).exists():
            storage.delete(target)  # perhaps cut short mid-write: written again whole
        self.image.save(name, ContentFile(data), save=False)

    @property
    def url(self) -> str:
        if self.image:
            return self.image.url
        return self.source_url if self.source_url.startswith(("http://", "https://")) else ""

    def vector_array(self) -> np.ndarray | None:
        if not self.vector:
            return None
        return np.frombuffer(bytes(self.vector), dtype=np.float32)
