"""What a search keeps of its photo (search.keeping): made on the other core during the search, or after it in
the search's thread when the processors are busy, and the same either way."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from search import keeping
from search.keeping import analyse, photo_copies
from search.models import Search
from search.services import prepare_query_photo, record_search, run_search
from tests.conftest import GROCERY, CatalogItem
from tests.cpu_meters import busy_meter
from tests.images import encode, textured

PHOTO_DIR = Path(__file__).resolve().parent.parent / "demo" / "images"


def sample_photos(small_catalog: list[CatalogItem]) -> dict[str, bytes]:
    turned = Image.open(small_catalog[0].picture)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: the kept copy is re-encoded upright
    return {
        "catalog picture (plain background)": small_catalog[2].picture.read_bytes(),
        "shelf photo": next(GROCERY.glob("val/Packages/**/*.jpg")).read_bytes(),
        "png": encode(textured(400, 300, seed=3), "PNG"),
        "turned jpeg": encode(turned.convert("RGB"), "JPEG", exif=exif.tobytes()),
    }


def test_the_photo_kept_beside_the_search_is_the_one_made_after_it(small_catalog: list[CatalogItem], settings) -> None:
    settings.SNAPSHOP_RERANK_MAX_CPU = 0  # never too busy to go beside
    for name, data in sample_photos(small_catalog).items():
        outcome = run_search(data, keep="copies_and_look")
        assert outcome.ok and outcome.keeping is not None, name
        alone = prepare_query_photo(data)
        assert outcome.photo_copies(data) == photo_copies(data, alone), name
        assert analyse(outcome.photo, outcome.early_look()) == analyse(alone), name  # type: ignore[arg-type]


def test_a_busy_machine_keeps_the_photo_after_the_search(
    small_catalog: list[CatalogItem], settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SNAPSHOP_RERANK_MAX_CPU = 70
    data = small_catalog[1].picture.read_bytes()
    monkeypatch.setattr(keeping, "PROCESS_CPU", busy_meter(tmp_path, 80))
    busy = run_search(data, keep="copies_and_look")
    assert busy.ok and busy.keeping is None  # the other core is taken: no hand-over costs on top
    record_search(busy, data)
    search = Search.objects.get()
    assert (
        search.photo and search.thumbnail and (search.photo_width, search.photo_height) == Image.open(search.photo).size
    )

    monkeypatch.setattr(keeping, "PROCESS_CPU", busy_meter(tmp_path, 60))
    assert run_search(data, keep="copies").keeping is not None


def test_what_is_not_kept_is_not_made(small_catalog: list[CatalogItem], settings) -> None:
    settings.SNAPSHOP_RERANK_MAX_CPU = 0
    data = small_catalog[1].picture.read_bytes()
    assert run_search(data).keeping is None  # evaluation, a filter's search again
    copies_only = run_search(data, keep="copies")
    assert copies_only.keeping is not None and copies_only.early_look() is None
