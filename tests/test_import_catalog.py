from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.importer import CatalogImporter
from catalog.models import Product, ProductImage
from search.backends.learning import upsert_products
from search.hits import ProductHit
from tests.fake_juhe import SKU
from tests.images import encode, jpeg, textured

HEADER = "skuId,skuName,skuPrice,wareLabel,cid1Name,cid2Name,cid3Name,imageUrl,detailUrl,detailAppUrl,description\n"


@pytest.fixture
def picture_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pics"
    folder.mkdir()
    for seed in range(3):
        (folder / f"p{seed}.jpg").write_bytes(jpeg(300, 300, seed))
    (folder / "broken.jpg").write_bytes(jpeg(300, 300, 9)[:400])
    (folder / "notes.jpg").write_bytes(b"<html>not a picture</html>")
    return folder


def run_import(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    call_command("import_catalog", str(path), verbosity=0)
    captured = capsys.readouterr()
    return captured.out, captured.err


@pytest.mark.django_db
def test_good_rows_are_imported_with_their_fields(picture_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = picture_dir / "catalog.csv"
    csv_file.write_text(
        HEADER
        + "100,Red Mug,12.50,自营,Home,Kitchen,Mugs,p0.jpg,https://shop.example/100,https://m.shop.example/100,A mug\n"
        + "101,Blue Mug,,非自营,Home,Kitchen,Mugs,p1.jpg|p2.jpg,,,\n"
    )
    out, _ = run_import(csv_file, capsys)
    assert "imported 2" in out and "skipped 0" in out
    mug = Product.objects.get(sku_id="100")
    assert (mug.name, str(mug.price), mug.ware_label, mug.category_path) == (
        "Red Mug",
        "12.50",
        "自营",
        ["Home", "Kitchen", "Mugs"],
    )
    assert mug.detail_app_url == "https://m.shop.example/100"
    assert Product.objects.get(sku_id="101").price is None
    assert ProductImage.objects.filter(product__sku_id="101").count() == 2
    assert ProductImage.objects.exclude(vector=None).count() == 3


@pytest.mark.django_db
def test_a_rows_unusable_pictures_are_said_when_its_others_are_imported(
    picture_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """good|missing|good imported without a word about the missing one (QA20): each is reported with its line, in the
    file's order among the skipped rows."""
    csv_file = picture_dir / "catalog.csv"
    csv_file.write_text(
        HEADER
        + "200,Mixed,5,,A,,,p0.jpg|nothere.jpg|p1.jpg,,,\n"
        + ",No id,5,,A,,,p2.jpg,,,\n"
        + "201,Second bad,5,,A,,,p2.jpg|notes.jpg,,,\n"
    )
    out, err = run_import(csv_file, capsys)
    assert "imported 2" in out and "skipped 1" in out and "pictures left out 2" in out
    assert ProductImage.objects.filter(product__sku_id="200").count() == 2
    lines = err.strip().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("line 2: picture left out: nothere.jpg: cannot read")
    assert lines[1].startswith("skipped line 3: skuId is empty")
    assert lines[2].startswith("line 4: picture left out: notes.jpg:") and "not a picture" in lines[2]


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--batch-size", "0"], "--batch-size must be 1 or more"),
        (["--source", ""], "--source must have 1 to 20 characters"),
        (["--source", "s" * 40], "--source must have 1 to 20 characters"),
    ],
)
@pytest.mark.django_db
def test_arguments_the_import_cannot_use_are_refused_before_it_starts(
    picture_dir: Path, arguments: list[str], said: str
) -> None:
    """A 40-character source was stored in a 20-character column, and a batch size of 0 or -3 accepted (QA20)."""
    csv_file = picture_dir / "catalog.csv"
    csv_file.write_text(HEADER + "100,Red Mug,12.50,,Home,,,p0.jpg,,,\n")
    with pytest.raises(CommandError, match=said):
        call_command("import_catalog", str(csv_file), *arguments, verbosity=0)
    with pytest.raises(CommandError, match="a folder, not a file"):
        call_command("import_catalog", str(picture_dir), verbosity=0)
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_reimport_updates_instead_of_duplicating(picture_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = picture_dir / "catalog.csv"
    csv_file.write_text(HEADER + "100,Red Mug,12.50,,Home,,,p0.jpg,,,\n")
    run_import(csv_file, capsys)
    csv_file.write_text(HEADER + "100,Red Mug XL,14.00,,Home,,,p0.jpg,,,\n")
    out, _ = run_import(csv_file, capsys)
    assert "imported 0, updated 1" in out
    assert "pictures embedded 0" in out  # same picture bytes: no second embedding
    assert Product.objects.count() == 1
    assert Product.objects.get().name == "Red Mug XL"
    assert ProductImage.objects.count() == 1


@pytest.mark.django_db
def test_bad_rows_and_pictures_are_reported_and_skipped(picture_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = picture_dir / "catalog.csv"
    csv_file.write_text(
        HEADER
        + ",No Id,1,,,,,p0.jpg,,,\n"
        + "200,,1,,,,,p0.jpg,,,\n"
        + "201,Bad Price,abc,,,,,p0.jpg,,,\n"
        + "202,Bad Link,1,,,,,p0.jpg,javascript:alert(1),,\n"
        + "203,Missing Picture,1,,,,,nowhere.jpg,,,\n"
        + "204,Broken Picture,1,,,,,broken.jpg,,,\n"
        + "205,Not A Picture,1,,,,,notes.jpg,,,\n"
        + "206,Too Many,1,,,,,p0.jpg,,,,extra,columns\n"
        + "207,Fine,1,,,,,p1.jpg,,,\n"
    )
    out, err = run_import(csv_file, capsys)
    assert "imported 1" in out and "skipped 8" in out
    assert list(Product.objects.values_list("sku_id", flat=True)) == ["207"]
    for reason in [
        "skuId is empty",
        "skuName is empty",
        "not a price",
        "http(s) URL",
        "cannot read",
        "damaged",
        "not a picture",
        "more columns",
    ]:
        assert reason in err, reason


@pytest.mark.django_db
def test_a_gb18030_file_keeps_its_chinese_and_says_how_it_was_read(
    picture_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_file = picture_dir / "catalog.csv"
    csv_file.write_bytes((HEADER + "g1,电脑包 黑色,10.00,自营,数码,电脑,配件,p0.jpg,,,商品描述\n").encode("gb18030"))
    out, _ = run_import(csv_file, capsys)
    assert "is not UTF-8: read as GB18030" in out and "imported 1" in out
    bag = Product.objects.get(sku_id="g1")
    assert (bag.name, bag.ware_label, bag.category_path, bag.description) == (
        "电脑包 黑色",
        "自营",
        ["数码", "电脑", "配件"],
        "商品描述",
    )


@pytest.mark.django_db
def test_json_lines_are_imported_and_bad_lines_skipped(picture_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jsonl = picture_dir / "catalog.jsonl"
    (picture_dir / "p3.png").write_bytes(encode(textured(200, 200, 3), "PNG"))
    jsonl.write_text(
        json.dumps({"skuId": 300, "skuName": "PNG thing", "skuPrice": "9.9", "imageUrl": "p3.png"})
        + "\n"
        + "{not json\n"
        + json.dumps(["a", "list"])
        + "\n"
    )
    out, err = run_import(jsonl, capsys)
    assert "imported 1" in out and "skipped 2" in out
    assert "not valid JSON" in err and "not a JSON object" in err
    assert Product.objects.get().sku_id == "300"


def array_rows() -> list[dict[str, str]]:
    return [
        {"skuId": "arr1", "skuName": "Red Mug", "skuPrice": "12.50", "imageUrl": "p0.jpg"},
        {"skuId": "arr2", "skuName": "Blue Mug", "skuPrice": "9.90", "imageUrl": "p1.jpg"},
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "layout",
    [
        lambda items: json.dumps(items),
        lambda items: "[\n" + ",\n".join(json.dumps(item) for item in items) + "\n]\n",
        lambda items: json.dumps(items, indent=2),
    ],
    ids=["one-line", "one-item-a-line", "indented"],
)
def test_a_json_array_file_imports_every_item(
    picture_dir: Path, capsys: pytest.CaptureFixture[str], layout: Callable[[list[dict[str, str]]], str]
) -> None:
    """Read as JSON Lines, the one-line array was 'not a JSON object' and the others imported their last item only."""
    catalog = picture_dir / "arr.json"
    catalog.write_text(layout(array_rows()))
    out, err = run_import(catalog, capsys)
    assert "imported 2" in out and "skipped 0" in out and err == ""
    assert list(Product.objects.values_list("sku_id", "name")) == [("arr1", "Red Mug"), ("arr2", "Blue Mug")]


@pytest.mark.django_db
def test_a_bad_item_of_a_json_array_is_reported_by_its_position_and_the_others_imported(
    picture_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = picture_dir / "arr.json"
    first, second = array_rows()
    lost = dict(second, skuId="arr3", imageUrl="nowhere.jpg")
    catalog.write_text(json.dumps([first, ["not", "a", "row"], lost, dict(first, skuName="Again"), second]))
    out, err = run_import(catalog, capsys)
    assert "imported 2" in out and "skipped 3" in out
    assert "skipped line 1: item 2: not a JSON object" in err
    assert "skipped line 1: item 3: nowhere.jpg: cannot read" in err  # a picture problem names the item too
    assert "skipped line 1: item 4: skuId 'arr1' is already in item 1, on line 1 (that row counts)" in err
    assert list(Product.objects.values_list("sku_id", "name")) == [("arr1", "Red Mug"), ("arr2", "Blue Mug")]


@pytest.mark.django_db
def test_a_json_array_that_is_not_valid_json_is_refused_with_one_message(
    picture_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = picture_dir / "arr.json"
    catalog.write_text("\n".join(json.dumps(array_rows(), indent=2).splitlines()[:12]))  # cut short in the last item
    out, err = run_import(catalog, capsys)
    assert "imported 0" in out and "skipped 1" in out
    assert err.count("skipped") == 1 and "skipped line 12: the file is not valid JSON" in err
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_an_import_takes_over_a_product_learnt_from_juhe(picture_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The import kept the learnt product's source 'juhe', so Juhe's next answer overwrote the file's values."""
    upsert_products([ProductHit.from_juhe(dict(SKU, skuId=555003))])
    assert Product.objects.get(sku_id="555003").source == "juhe"
    csv_file = picture_dir / "catalog.csv"
    csv_file.write_text(HEADER + "555003,Our Mug,12.50,自营,Home,Kitchen,Mugs,p0.jpg,https://shop.example/555003,,\n")
    out, _ = run_import(csv_file, capsys)
    assert "imported 0, updated 1" in out
    answer = dict(
        SKU, skuId=555003, skuName="Juhe's name", skuPrice="1.00", cid1Name="电脑", detailUrl="https://jd.com/x"
    )
    upsert_products([ProductHit.from_juhe(answer)])  # Juhe's next answer with it
    mug = Product.objects.get(sku_id="555003")
    assert (mug.source, mug.name, str(mug.price), mug.category_path, mug.detail_url) == (
        "import",
        "Our Mug",
        "12.50",
        ["Home", "Kitchen", "Mugs"],
        "https://shop.example/555003",
    )
    out, _ = run_import(csv_file, capsys)
    assert "imported 0, updated 0, unchanged 1" in out  # taken over once, not at every re-import


@pytest.mark.django_db
def test_import_survives_a_lost_index_file(picture_dir: Path, capsys: pytest.CaptureFixture[str], settings) -> None:
    from catalog.index import get_local_index, reset_local_index

    csv_file = picture_dir / "catalog.csv"
    csv_file.write_text(HEADER + "100,Red Mug,,,,,,p0.jpg,,,\n101,Blue Mug,,,,,,p1.jpg,,,\n")
    run_import(csv_file, capsys)
    for path in Path(settings.SNAPSHOP_INDEX_DIR).rglob("*"):
        if path.is_file():
            path.write_bytes(b"garbage")
    reset_local_index()
    assert len(get_local_index().store) == 2  # rebuilt from the vectors kept in the database


@pytest.mark.django_db
def test_a_malformed_picture_url_skips_its_row_only(picture_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """urlsplit raises on an unclosed IPv6 bracket: it ended the whole import with a traceback."""
    csv_file = picture_dir / "catalog.csv"
    csv_file.write_text(HEADER + "h-good,Good row,5.00,,,,,p0.jpg,,,\nh-bad,Bad url,5.00,,,,,https://[oops/a.jpg,,,\n")
    out, err = run_import(csv_file, capsys)
    assert "imported 1" in out and "skipped 1" in out
    assert "line 3" in err and "not a usable URL" in err
    assert list(Product.objects.values_list("sku_id", flat=True)) == ["h-good"]


@pytest.mark.django_db
def test_prices_are_kept_in_cents_and_one_too_large_to_store_is_refused(
    picture_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """9999999999.999 passed the size check, was stored unrounded and broke every page that read it (500s)."""
    csv_file = picture_dir / "catalog.csv"
    csv_file.write_text(HEADER + "p-edge,Edge,9999999999.995,,,,,p0.jpg,,,\np-cents,Cents,12.345,,,,,p1.jpg,,,\n")
    out, err = run_import(csv_file, capsys)
    assert "imported 1" in out and "line 2" in err and "too large" in err
    assert str(Product.objects.get(sku_id="p-cents").price) == "12.35"
    out, _ = run_import(csv_file, capsys)
    assert "unchanged 1" in out  # the stored price is the file's: a re-import changes nothing


@pytest.mark.django_db
def test_ctrl_c_says_what_is_kept_and_the_same_command_finishes(
    picture_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C printed a KeyboardInterrupt traceback, which read like a crash that lost the import."""
    csv_file = picture_dir / "catalog.csv"
    csv_file.write_text(HEADER + "".join(f"{n},Mug {n},,,Home,,,p{n % 3}.jpg,,,\n" for n in range(6)))
    batches = []
    import_batch = CatalogImporter._import_batch

    def ctrl_c_in_the_second_batch(self, *args):
        batches.append(1)
        if len(batches) == 2:
            raise KeyboardInterrupt
        return import_batch(self, *args)

    monkeypatch.setattr(CatalogImporter, "_import_batch", ctrl_c_in_the_second_batch)
    with pytest.raises(SystemExit) as stopped:
        call_command("import_catalog", str(csv_file), "--batch-size", "2", verbosity=0)
    assert stopped.value.code == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "Interrupted: 2 rows saved, 0 pictures made searchable. Run the same command again to go on" in err
    assert Product.objects.count() == 2

    monkeypatch.setattr(CatalogImporter, "_import_batch", import_batch)
    out, _ = run_import(csv_file, capsys)
    assert "imported 4, updated 0, unchanged 2" in out
    assert ProductImage.objects.exclude(vector=None).count() == 6
