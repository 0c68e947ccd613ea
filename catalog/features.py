"""Catalog pictures' features as the database keeps them on the ProductImage rows.

Which pictures an engine version has embedded (what its index holds), which still lack their re-rank
extras, the extras computed from a picture's stored copy, and DatabaseSource, which serves extras
(computing missing ones on demand) and cards to a LocalSearcher. Apart from catalog.index, which keeps
the process's vector store, because these concern the rows alone: the import and reindex commands,
the benchmark, the local backend and similar products use them without going through a LocalIndex.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q, QuerySet

from catalog.cards import picture_cards
from catalog.local_engine import CatalogSource, PictureInfo
from catalog.models import ProductImage
from vision import catalog
from vision.engine import get_engine
from vision.model import FeatureNet
from vision.prepare import ImageRejected, prepare_image

logger = logging.getLogger(__name__)


def indexed_pictures(version: str) -> QuerySet[ProductImage]:
    """Pictures with a vector of this engine version: what its index holds."""
    return ProductImage.objects.filter(features_version=version, vector__isnull=False)


def missing_extras(version: str) -> QuerySet[ProductImage]:
    """Pictures with a vector of this engine version but no re-rank extras yet (see catalog.importer)."""
    return indexed_pictures(version).filter(Q(extras__isnull=True) | Q(extras=b""))


def pictures_of_other_versions(version: str) -> int:
    """Catalog pictures embedded by another engine version: out of the index until re-embedded
    (`manage.py import_catalog` does it for the pictures of its CSV)."""
    return ProductImage.objects.exclude(features_version=version).exclude(features_version="").count()


def stored_extras(data: bytes, net: FeatureNet) -> bytes:
    """The re-rank extras of a catalog picture from its stored copy's bytes (b"" if they cannot be decoded)."""
    try:
        image = prepare_image(data).image
    except ImageRejected:
        return b""
    return catalog.catalog_extras(catalog.product_crop(image), net)


def picture_extras(picture: ProductImage, net: FeatureNet) -> bytes:
    """The re-rank extras of a stored catalog picture, from its stored copy (b"" if it cannot be read)."""
    name = picture.image.name
    if not name:
        return b""
    try:
        with picture.image.storage.open(name, "rb") as handle:
            data = handle.read()
    except OSError:
        return b""
    return stored_extras(data, net)


class DatabaseSource(CatalogSource):
    def __init__(self, net: FeatureNet | None = None) -> None:
        self.net = net  # for extras computed on demand; the process's engine when not given

    def extras(self, keys: Sequence[int], *, compute_missing: bool = True) -> dict[int, bytes]:
        """Each picture's extras; a picture imported but not yet given its extras gets them now (and keeps them),
        unless `compute_missing` is false (then b"")."""
        rows = ProductImage.objects.filter(pk__in=keys).only("extras", "image", "features_version")
        found = {picture.pk: bytes(picture.extras or b"") for picture in rows}
        for picture in rows:
            if found[picture.pk] or not picture.image or not compute_missing:
                continue
            net = self.net or get_engine(Path(settings.SNAPSHOP_MODEL_PATH)).net
            found[picture.pk] = blob = picture_extras(picture, net)
            if blob:
                try:
                    ProductImage.objects.filter(pk=picture.pk, features_version=picture.features_version).update(
                        extras=blob
                    )
                except DatabaseError as exc:  # the search still uses them; the import's phase 2 saves them later
                    logger.warning("could not save the extras of picture %s: %r", picture.pk, exc)
        return found

    def pictures(self, keys: Sequence[int]) -> dict[int, PictureInfo]:
        return picture_cards(keys)
