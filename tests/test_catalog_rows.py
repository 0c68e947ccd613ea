"""Reading catalog files (catalog.rows): encodings, repeated skuIds, rows a stray quote has joined, JSON arrays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.rows import CatalogRow, RowError, read_catalog, text_encoding

HEADER = "skuId,skuName,skuPrice,wareLabel,cid1Name,cid2Name,cid3Name,imageUrl,detailUrl,detailAppUrl,description\n"


def rows(path: Path) -> list[CatalogRow | RowError]:
    return list(read_catalog(path))


def test_a_gb18030_file_is_read_as_gb18030(tmp_path: Path) -> None:
    """Excel on a Chinese Windows saves CSV as GBK/GB18030: its Chinese must arrive intact, not as U+FFFD."""
    path = tmp_path / "gbk.csv"
    path.write_bytes((HEADER + "a1,电脑包 黑色,10.00,自营,数码,电脑,配件,a.jpg,,,商品描述\n").encode("gb18030"))
    assert text_encoding(path) == "gb18030"
    (row,) = rows(path)
    assert isinstance(row, CatalogRow)
    assert (row.name, row.ware_label, row.cid1, row.description) == ("电脑包 黑色", "自营", "数码", "商品描述")


def test_utf8_with_a_bom_and_crlf_is_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + HEADER + "a1,电脑包,1,非自营,,,,a.jpg,,,\n").replace("\n", "\r\n").encode("utf-8"))
    assert text_encoding(path) == "utf-8-sig"
    (row,) = rows(path)
    assert isinstance(row, CatalogRow) and (row.sku_id, row.name, row.ware_label) == ("a1", "电脑包", "非自营")


def test_a_file_that_is_no_text_is_refused_whole_with_the_line(tmp_path: Path, db) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(HEADER.encode() + b"a1,fine,1,,,,,a.jpg,,,\n" + b"a2,\xff\xfe\xff,1,,,,,a.jpg,,,\n")
    (problem,) = rows(path)
    assert isinstance(problem, RowError) and problem.line == 3 and "neither UTF-8 nor GB18030" in problem.reason
    with pytest.raises(CommandError, match="neither UTF-8 nor GB18030"):
        call_command("import_catalog", str(path), verbosity=0)


def test_a_repeated_sku_id_is_reported_and_the_first_row_counts(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(HEADER + "d1,First,1,,,,,a.jpg,,,\n" + "d2,Other,1,,,,,b.jpg,,,\n" + "d1,Second,2,,,,,b.jpg,,,\n")
    first, other, repeated = rows(path)
    assert isinstance(first, CatalogRow) and first.name == "First" and isinstance(other, CatalogRow)
    assert isinstance(repeated, RowError) and repeated.line == 4
    assert repeated.reason == "skuId 'd1' is already on line 2 (that row counts)"


def test_a_repeated_sku_id_in_json_lines_too(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text(
        '{"skuId": "j", "skuName": "A", "imageUrl": "a.jpg"}\n{"skuId": "j", "skuName": "B", "imageUrl": "b"}\n'
    )
    first, repeated = rows(path)
    assert isinstance(first, CatalogRow) and isinstance(repeated, RowError) and "already on line 1" in repeated.reason


def test_an_unclosed_quote_names_the_lines_it_joined(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text(
        HEADER
        + "q1,Fine,1,,,,,a.jpg,,,\n"
        + 'q2,"Unclosed,10.00,自营,数码,电脑,配件,a.jpg,,,x\n'
        + "q3,Swallowed,10,自营,数码,电脑,配件,b.jpg,,,x\n"
    )
    fine, joined = rows(path)
    assert isinstance(fine, CatalogRow) and fine.sku_id == "q1"
    assert isinstance(joined, RowError) and "lines 3-4 were read as one row" in joined.reason
    assert 'a quote (") on line 3 not closed' in joined.reason


def test_a_short_row_says_how_many_columns_it_has(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text(HEADER + "s1,Few columns,10\n")
    (short,) = rows(path)
    assert isinstance(short, RowError) and short.reason == "imageUrl is empty (3 columns, the header has 11)"


def test_a_quoted_description_over_several_lines_is_one_good_row(tmp_path: Path) -> None:
    path = tmp_path / "multiline.csv"
    path.write_text(HEADER + 'm1,Mug,1,,,,,a.jpg,,,"first line\nsecond line"\n' + "m2,Cup,1,,,,,b.jpg,,,\n")
    mug, cup = rows(path)
    assert isinstance(mug, CatalogRow) and mug.description == "first line\nsecond line" and mug.line == 3
    assert isinstance(cup, CatalogRow) and cup.line == 4


def json_rows(*items: object) -> list[str]:
    return [json.dumps(item, ensure_ascii=False) for item in items]


MUG = {"skuId": "a1", "skuName": "Mug", "imageUrl": "a.jpg"}
CUP = {"skuId": "a2", "skuName": "Cup", "imageUrl": "b.jpg"}


def test_a_pretty_printed_json_array_is_read_item_by_item_with_their_lines(tmp_path: Path) -> None:
    """Read as JSON Lines, every line of it but the last was 'not valid JSON': only the last item was imported."""
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps([MUG, CUP], indent=2))
    mug, cup = rows(path)
    assert isinstance(mug, CatalogRow) and (mug.sku_id, mug.line, mug.item) == ("a1", 2, 1)
    assert isinstance(cup, CatalogRow) and (cup.sku_id, cup.line, cup.item) == ("a2", 7, 2)


def test_the_items_of_a_one_line_json_array_are_told_apart_by_their_position(tmp_path: Path) -> None:
    """All on line 1: a bad item names its position, and a repeated skuId is still caught (it was keyed by line)."""
    path = tmp_path / "one-line.json"
    path.write_text(json.dumps([MUG, "a string", {"skuId": "a3"}, CUP, dict(MUG, skuName="Again")]))
    mug, text, nameless, cup, repeated = rows(path)
    assert isinstance(mug, CatalogRow) and isinstance(cup, CatalogRow) and (mug.line, cup.line) == (1, 1)
    assert isinstance(text, RowError) and (text.line, text.reason) == (1, "item 2: not a JSON object")
    assert isinstance(nameless, RowError) and nameless.reason == "item 3: skuName is empty"
    assert isinstance(repeated, RowError)
    assert repeated.reason == "item 5: skuId 'a1' is already in item 1, on line 1 (that row counts)"


@pytest.mark.parametrize(
    ("text", "line", "mistake"),
    [
        ("[\n" + ",\n".join(json_rows(MUG, CUP)) + ",\n]\n", 3, "a ',' after the last item"),
        ("[\n" + json_rows(MUG)[0] + "\n" + json_rows(CUP)[0] + "\n]\n", 3, "Expecting ',' delimiter"),
        ("\n".join(json.dumps([MUG, CUP], indent=2).splitlines()[:9]), 9, "Expecting property name"),
        ('[{"skuId": "a1"}] trailing', 1, "Extra data"),
    ],
    ids=["comma-after-the-last", "missing-comma", "cut-short", "extra-data"],
)
def test_a_json_array_that_is_not_valid_json_is_refused_whole(
    tmp_path: Path, text: str, line: int, mistake: str
) -> None:
    """Not half imported: its good items are only known to be rows once the whole document parsed."""
    path = tmp_path / "broken.json"
    path.write_text(text)
    (problem,) = rows(path)
    assert isinstance(problem, RowError) and problem.line == line
    assert (
        problem.reason.startswith(f"the file is not valid JSON ({mistake}")
        and "none of it is imported" in problem.reason
    )


def test_a_json_file_that_is_no_array_nor_json_lines_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "scalar.json"
    path.write_text('  "a catalog"\n')
    (problem,) = rows(path)
    assert isinstance(problem, RowError) and problem.line == 1
    assert "none of the file is imported" in problem.reason and "not a file starting '\"'" in problem.reason


def test_a_json_file_of_json_lines_is_still_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "lines.json"
    path.write_text("\n" + "\n".join(json_rows(MUG, CUP, ["a", "list"])) + "\n")
    mug, cup, listed = rows(path)
    assert isinstance(mug, CatalogRow) and mug.line == 2
    assert isinstance(cup, CatalogRow) and cup.line == 3
    assert isinstance(listed, RowError) and (listed.line, listed.reason) == (4, "not a JSON object")


def test_a_gb18030_json_array_keeps_its_chinese(tmp_path: Path) -> None:
    path = tmp_path / "gbk.json"
    path.write_bytes(json.dumps([dict(MUG, skuName="电脑包 黑色")], ensure_ascii=False).encode("gb18030"))
    (row,) = rows(path)
    assert isinstance(row, CatalogRow) and row.name == "电脑包 黑色"


@pytest.mark.parametrize("sku", [".", ".."])
def test_a_sku_id_that_is_a_dot_segment_is_refused(tmp_path: Path, sku: str) -> None:
    path = tmp_path / "dots.csv"
    path.write_text(HEADER + f"{sku},Dot,1,,,,,a.jpg,,,\n")
    (problem,) = rows(path)
    assert isinstance(problem, RowError) and "skuId cannot be" in str(problem)
