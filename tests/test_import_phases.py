"""The import's two phases (vectors, then re-rank extras), extras made on demand, and interrupted imports."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from catalog import benchmark as bench
from catalog.features import DatabaseSource, missing_extras, picture_extras
from catalog.importer import CatalogImporter
from catalog.index import get_local_index
from catalog.models import Product, ProductImage
from catalog.pictures import PictureVectors, decode_picture
from catalog.rows import read_catalog
from search.services import run_search
from tests.conftest import GROCERY, grocery_rows
from vision.prepare import prepare_image


class Stop(Exception):
    pass


def write_catalog(tmp_path: Path, count: int) -> Path:
    rows = grocery_rows(count)
    path = tmp_path / "catalog.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "imageUrl": str(GROCERY / row["imageUrl"])})
    return path


def stored_bytes(picture: ProductImage) -> bytes:
    assert picture.image.name
    with picture.image.storage.open(picture.image.name, "rb") as handle:
        return handle.read()


@pytest.mark.django_db
def test_the_first_phase_makes_pictures_searchable_the_second_adds_their_extras(tmp_path: Path) -> None:
    catalog_csv = write_catalog(tmp_path, 6)
    index = get_local_index()
    importer = CatalogImporter(index, base_dir=tmp_path, batch_size=4)
    assert importer.import_rows(read_catalog(catalog_csv)).pictures_embedded == 6
    assert len(index.store) == 6
    assert ProductImage.objects.filter(features_version=index.engine.version, vector__isnull=False).count() == 6
    assert missing_extras(index.engine.version).count() == 6

    assert importer.complete_extras() == 6
    assert missing_extras(index.engine.version).count() == 0
    assert importer.complete_extras() == 0  # nothing left to do
    for picture in ProductImage.objects.all():
        # The extras are the engine's own, made from the stored copy.
        expected = index.engine.catalog_features([prepare_image(stored_bytes(picture)).image])[0].extras
        assert picture.extras is not None and bytes(picture.extras) == expected


@pytest.mark.django_db
def test_import_vectors_are_the_engines_vectors() -> None:
    rows = grocery_rows(5)
    engine = get_local_index().engine
    images = [decode_picture(r["imageUrl"], (GROCERY / r["imageUrl"]).read_bytes()).image for r in rows]
    mine = np.stack(PictureVectors(engine)(images))  # single-threaded sessions, no extras
    theirs = np.stack([f.vector for f in engine.catalog_features(images)])
    assert np.allclose(mine, theirs, atol=1e-4)


@pytest.mark.django_db
def test_a_search_before_the_second_phase_makes_and_keeps_the_extras_it_needs(tmp_path: Path) -> None:
    catalog_csv = write_catalog(tmp_path, 6)
    index = get_local_index()
    CatalogImporter(index, base_dir=tmp_path).import_rows(read_catalog(catalog_csv))
    first, second = ProductImage.objects.order_by("pk")[:2]
    blobs = DatabaseSource().extras([first.pk, second.pk])
    assert blobs[first.pk] and blobs[first.pk] == picture_extras(first, index.engine.net)
    first.refresh_from_db()
    assert first.extras is not None and bytes(first.extras) == blobs[first.pk]  # kept
    assert missing_extras(index.engine.version).count() == 4

    # A whole search through the service finds the product already, re-ranked with extras made on demand.
    row = grocery_rows(6)[3]
    outcome = run_search((GROCERY / row["imageUrl"]).read_bytes(), backend="local", limit=10)
    assert outcome.hits and outcome.hits[0].sku_id == row["skuId"]
    assert missing_extras(index.engine.version).count() < 4


@pytest.mark.django_db
def test_an_interrupted_import_resumes_without_lost_or_duplicated_pictures(tmp_path: Path) -> None:
    catalog_csv = write_catalog(tmp_path, 10)
    index = get_local_index()

    def stop_after_the_first_batch(rows: int) -> None:
        raise Stop

    with pytest.raises(Stop):  # stopped in phase 1, with vector jobs in flight
        CatalogImporter(index, base_dir=tmp_path, batch_size=4, on_progress=stop_after_the_first_batch).run(
            read_catalog(catalog_csv)
        )
    assert 0 < Product.objects.count() < 10

    calls = []

    def stop_in_the_extras(pictures: int) -> None:
        calls.append(pictures)
        raise Stop

    resumed = CatalogImporter(index, base_dir=tmp_path, batch_size=4)
    resumed.import_rows(read_catalog(catalog_csv))
    with pytest.raises(Stop):  # stopped in phase 2, after its first chunk was saved
        resumed.complete_extras(on_progress=stop_in_the_extras)
    assert 0 < missing_extras(index.engine.version).count() < 10

    summary = CatalogImporter(index, base_dir=tmp_path, batch_size=4).run(read_catalog(catalog_csv))
    assert (summary.imported, summary.unchanged, summary.pictures_embedded) == (0, 10, 0)
    assert Product.objects.count() == 10 and ProductImage.objects.count() == 10
    assert missing_extras(index.engine.version).count() == 0
    assert ProductImage.objects.filter(features_version=index.engine.version, vector__isnull=False).count() == 10
    assert len(index.store) == 10


@pytest.mark.django_db
def test_the_benchmark_measures_the_import_work() -> None:
    rows = grocery_rows(3)
    engine = get_local_index().engine
    report = bench.import_speed(engine, [(GROCERY / r["imageUrl"]).read_bytes() for r in rows], 8)
    assert report["embed_ips"] > 0 and report["searchable_ips"] >= report["embed_ips"]
    assert report["embed_cpu_ms"] > report["searchable_cpu_ms"] > 0


@pytest.mark.django_db
def test_an_import_stopped_inside_its_transaction_leaves_no_stray_picture_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog_csv = write_catalog(tmp_path, 6)
    index = get_local_index()
    save = ProductImage.save
    saved: list[int] = []

    def stop_at_the_third_picture(picture: ProductImage, *args: object, **kwargs: object) -> None:
        saved.append(1)
        if len(saved) == 3:
            raise Stop  # like a kill: two pictures' files are written, their rows roll back
        save(picture, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ProductImage, "save", stop_at_the_third_picture)
    with pytest.raises(Stop):
        CatalogImporter(index, base_dir=tmp_path, batch_size=6).run(read_catalog(catalog_csv))
    monkeypatch.undo()
    assert ProductImage.objects.count() == 0
    media = Path(settings.MEDIA_ROOT) / "catalog"
    strays = [f for f in media.rglob("*") if f.is_file()]
    assert len(strays) == 3  # written before their rows, which rolled back
    strays[0].write_bytes(strays[0].read_bytes()[:100])  # as if killed mid-write

    CatalogImporter(index, base_dir=tmp_path, batch_size=6).run(read_catalog(catalog_csv))
    files = sorted(str(f.relative_to(settings.MEDIA_ROOT)) for f in media.rglob("*") if f.is_file())
    assert files == sorted(ProductImage.objects.values_list("image", flat=True))
    assert len(files) == 6
    for picture in ProductImage.objects.all():  # each file whole, the cut one written again
        assert prepare_image(stored_bytes(picture)).image.size


@pytest.mark.django_db
def test_a_picture_shared_by_two_products_keeps_one_file_each(tmp_path: Path) -> None:
    rows = grocery_rows(1)
    path = tmp_path / "catalog.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        for sku in ("a", "b"):
            writer.writerow({**rows[0], "skuId": sku, "imageUrl": str(GROCERY / rows[0]["imageUrl"])})
    CatalogImporter(get_local_index(), base_dir=tmp_path).run(read_catalog(path))
    names = list(ProductImage.objects.values_list("image", flat=True))
    assert len(names) == 2 and len(set(names)) == 2  # deleting one product must not take the other's picture
