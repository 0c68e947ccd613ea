"""`manage.py compare_ranks A.csv B.csv`: two `evaluate --ranks` runs of the same photos, photo by photo."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.evaluation import PairedR1


def ranks_file(path: Path, ranks: Sequence[int | None], prefix: str = "p") -> Path:
    rows = ["imageUrl,skuId,rank"] + [f"{prefix}{i}.jpg,{i % 3},{'' if r is None else r}" for i, r in enumerate(ranks)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def compare(first: Path, second: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    call_command("compare_ranks", str(first), str(second))
    report: dict[str, float] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return report


def test_it_counts_the_photos_only_one_run_got_right_and_tests_the_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 12 photos: both right on 4, only the first on 6, only the second on none, neither on 2.
    first = ranks_file(tmp_path / "a.csv", [1] * 10 + [None, 3])
    second = ranks_file(tmp_path / "b.csv", [1] * 4 + [2] * 6 + [None, 5])
    report = compare(first, second, capsys)
    assert report["n"] == 12
    assert (report["first_r1"], report["second_r1"]) == (
        pytest.approx(10 / 12, abs=1e-4),
        pytest.approx(4 / 12, abs=1e-4),
    )
    assert (report["first_only"], report["second_only"]) == (6, 0)
    assert report["p_value"] == pytest.approx(2 / 2**6, abs=1e-6)  # six of six discordant photos one way: 2 x 1/64


def test_an_even_split_is_no_evidence_and_the_order_of_files_only_swaps_the_sides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ranks_file(tmp_path / "a.csv", [1, 1, 1, 2, 2, 2, None])
    second = ranks_file(tmp_path / "b.csv", [2, 2, 2, 1, 1, 1, None])
    assert compare(first, second, capsys)["p_value"] == 1.0
    lopsided_a = ranks_file(tmp_path / "c.csv", [1] * 9 + [2])
    lopsided_b = ranks_file(tmp_path / "d.csv", [2] * 8 + [1, 1])
    forward, backward = compare(lopsided_a, lopsided_b, capsys), compare(lopsided_b, lopsided_a, capsys)
    assert (forward["first_only"], forward["second_only"]) == (backward["second_only"], backward["first_only"])
    assert forward["p_value"] == backward["p_value"] == pytest.approx(2 * (1 + 9) / 2**9, abs=1e-6)


def test_the_exact_test_stays_exact_for_a_whole_split() -> None:
    # Train's 2,640 photos: 2 ** discordant is far beyond a float, the integers are not.
    assert PairedR1(both=1400, first_only=150, second_only=150, neither=940).p_value == 1.0
    assert 0 < PairedR1(both=1400, first_only=100, second_only=160, neither=980).p_value < 0.001


def test_files_of_other_photos_or_malformed_rows_are_refused_clearly(tmp_path: Path) -> None:
    first = ranks_file(tmp_path / "a.csv", [1, 2, None])
    other = ranks_file(tmp_path / "b.csv", [1, 1, 1], prefix="q")
    with pytest.raises(CommandError, match="share no photo"):
        call_command("compare_ranks", str(first), str(other))
    bad = tmp_path / "bad.csv"
    bad.write_text("imageUrl,skuId,rank\np0.jpg,1,first\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 2"):
        call_command("compare_ranks", str(first), str(bad))
    queries = tmp_path / "queries.csv"
    queries.write_text("imageUrl,skuId\np0.jpg,1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="no imageUrl and rank columns"):
        call_command("compare_ranks", str(first), str(queries))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("compare_ranks", str(first), str(tmp_path / "missing.csv"))


def test_one_photo_is_counted_in_the_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The summary said "1 photos in both files", and the warning "1 photos are in one file only"."""
    first = ranks_file(tmp_path / "a.csv", [1, 2])
    second = ranks_file(tmp_path / "b.csv", [1])
    call_command("compare_ranks", str(first), str(second))
    captured = capsys.readouterr()
    assert captured.out.startswith("1 photo in both files; R@1 1.000 against 1.000 (+0.000)")
    assert "1 photo is in one file only and was left out" in captured.err
    many = ranks_file(tmp_path / "c.csv", [1, 1, 2, 3])
    call_command("compare_ranks", str(many), str(second))
    captured = capsys.readouterr()
    assert captured.out.startswith("1 photo in both files")
    assert "3 photos are in one file only and were left out" in captured.err
    call_command("compare_ranks", str(many), str(many))
    assert capsys.readouterr().out.startswith("4 photos in both files")
