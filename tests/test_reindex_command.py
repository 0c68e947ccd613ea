from __future__ import annotations

import pytest
from django.core.management import call_command

from catalog.index import open_store, reset_local_index
from search.services import run_search
from tests.conftest import CatalogItem
from vision.engine import get_engine


@pytest.mark.django_db
def test_reindex_moves_the_catalog_to_another_store(
    small_catalog: list[CatalogItem], settings, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("reindex", "--store", "hnsw", verbosity=0)
    assert f"{len(small_catalog)} vectors in the hnsw store" in capsys.readouterr().out
    engine = get_engine(settings.SNAPSHOP_MODEL_PATH)
    assert len(open_store(engine.dim, "hnsw")) == len(small_catalog)

    settings.SNAPSHOP_VECTOR_STORE = "hnsw"
    reset_local_index()
    item = small_catalog[2]
    assert run_search(item.picture.read_bytes()).hits[0].sku_id == item.product.sku_id
