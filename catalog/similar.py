"""Visually similar products for a product page: the nearest neighbours of its own picture vectors."""

from __future__ import annotations

import logging

import numpy as np
from django.db import DatabaseError

from catalog.features import DatabaseSource
from catalog.index import get_local_index
from catalog.local_engine import one_card_per_product
from catalog.models import Product
from search.hits import ProductHit
from vectors.base import StoreUnavailable, best_per_key
from vision.model import ModelUnavailable

logger = logging.getLogger(__name__)


def similar_products(product: Product, limit: int = 8) -> list[ProductHit]:
    """Up to `limit` other products, most similar first (similarity = best cosine between their pictures)."""
    try:
        index = get_local_index()
        vectors = [v for image in product.images.all() if (v := image.vector_array()) is not None]
        vectors = [v for v in vectors if v.shape == (index.store.dim,)]
        if not vectors:
            return []
        own = {image.pk for image in product.images.all()}
        rows = index.store.search(np.stack(vectors), (limit + 1) * 3 + len(own), None)
    except (ModelUnavailable, StoreUnavailable, DatabaseError, OSError):
        logger.warning("similar products unavailable", exc_info=True)
        return []
    matches = [m for m in best_per_key(rows) if m.key not in own]
    pictures = DatabaseSource().pictures([m.key for m in matches])
    return one_card_per_product([(m.key, m.score) for m in matches], pictures, limit, {product.pk})
