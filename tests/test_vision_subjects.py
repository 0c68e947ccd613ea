"""Where the subjects of a photo are: what stands out from a plain background, else the feature map's blobs."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from vision.engine import Box, Engine
from vision.regions import _components, plain_background_boxes, salient_boxes


def _table(width: int = 800, height: int = 534) -> Image.Image:
    """A light tabletop of planks: near-white with thin grey seams, like the demo's tablet photo."""
    picture = Image.new("RGB", (width, height), (236, 236, 234))
    draw = ImageDraw.Draw(picture)
    for y in range(40, height, 100):
        draw.line([(0, y), (width, y)], fill=(205, 205, 205), width=2)
    return picture


def _near(box: tuple[float, float, float, float], expected: tuple[float, float, float, float]) -> bool:
    return all(abs(a - b) <= 0.05 for a, b in zip(box, expected, strict=True))


def test_a_dark_uniform_product_on_a_plain_table_is_one_subject_enclosing_it() -> None:
    """A tablet's dark screen has no texture: the feature map lit only its two edges and the chips cut it in two.
    On a plain background the subject is what differs from it: one box around the whole tablet."""
    photo = _table()
    draw = ImageDraw.Draw(photo)
    draw.rectangle([216, 93, 633, 440], fill=(22, 24, 28))  # the tablet: 0.27-0.79 wide, 0.17-0.82 high
    draw.rectangle([120, 110, 132, 330], fill=(250, 250, 250))  # a white pencil beside it, white on white
    boxes = plain_background_boxes(photo)
    assert len(boxes) == 1
    assert _near(boxes[0], (216 / 800, 93 / 534, 634 / 800, 441 / 534))


def test_a_tables_dark_seams_reaching_the_border_do_not_join_the_product() -> None:
    """Seams dark enough to stand out crossed the photo and touched the tablet: one subject as wide as the photo."""
    photo = Image.new("RGB", (800, 534), (236, 232, 226))
    draw = ImageDraw.Draw(photo)
    for y in range(20, 534, 160):  # four seams, two of them through the tablet's sides
        draw.line([(0, y), (800, y + 20)], fill=(140, 138, 134), width=6)
    draw.rectangle([216, 93, 633, 440], fill=(22, 24, 28))
    boxes = plain_background_boxes(photo)
    assert len(boxes) == 1 and _near(boxes[0], (216 / 800, 93 / 534, 634 / 800, 441 / 534)), boxes


def test_separate_products_are_separate_subjects_largest_first() -> None:
    photo = _table()
    draw = ImageDraw.Draw(photo)
    draw.ellipse([500, 150, 700, 350], fill=(200, 40, 30))  # a larger red ball on the right
    draw.rectangle([100, 200, 220, 300], fill=(30, 60, 160))  # a smaller blue box on the left
    boxes = plain_background_boxes(photo)
    assert len(boxes) == 2
    assert _near(boxes[0], (500 / 800, 150 / 534, 701 / 800, 351 / 534))
    assert _near(boxes[1], (100 / 800, 200 / 534, 221 / 800, 301 / 534))


def test_a_part_mostly_inside_a_subjects_box_joins_it() -> None:
    """A jump rope's handles lie partly outside the loop of rope and do not touch it: they are the same product."""
    photo = Image.new("RGB", (800, 800), (140, 60, 150))
    draw = ImageDraw.Draw(photo)
    draw.ellipse([80, 200, 480, 640], outline=(240, 180, 90), width=24)  # the rope's loop
    draw.rectangle([400, 600, 600, 630], fill=(230, 120, 60))  # a handle, 40 % inside the loop's box, apart
    boxes = plain_background_boxes(photo)
    assert len(boxes) == 1
    assert _near(boxes[0], (80 / 800, 200 / 800, 601 / 800, 641 / 800))


def test_a_busy_background_or_a_photo_filled_by_its_subject_leaves_the_judgement_to_the_feature_map() -> None:
    rng = np.random.default_rng(3)
    shelf = Image.fromarray(rng.integers(0, 256, size=(400, 600, 3), dtype=np.uint8))  # a shelf's clutter
    assert plain_background_boxes(shelf) == []
    filled = _table()
    ImageDraw.Draw(filled).rectangle([10, 10, 789, 523], fill=(20, 20, 20))  # a box filling the frame
    assert plain_background_boxes(filled) == []
    assert plain_background_boxes(Image.new("RGB", (4000, 60), (255, 255, 255))) == []  # a panorama's strip


def test_components_join_runs_that_touch_and_number_them_row_by_row() -> None:
    mask = np.array(
        [
            [1, 1, 0, 0, 1],
            [0, 1, 0, 1, 1],
            [1, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
        ],
        dtype=bool,
    )
    assert _components(mask).tolist() == [
        [1, 1, 0, 0, 2],
        [0, 1, 0, 2, 2],
        [3, 0, 0, 0, 0],
        [3, 3, 3, 3, 3],
    ]
    # A U shape: two runs in the top row that meet in a lower row are one component (diagonals do not join).
    u_shape = np.array([[1, 0, 1], [1, 0, 1], [1, 1, 1], [0, 0, 0], [0, 1, 0]], dtype=bool)
    assert _components(u_shape).tolist() == [[1, 0, 1], [1, 0, 1], [1, 1, 1], [0, 0, 0], [0, 2, 0]]
    diagonal = np.eye(3, dtype=bool)
    assert _components(diagonal).max() == 3


def test_the_engine_reports_the_plain_background_subject_and_else_the_feature_maps(engine: Engine) -> None:
    photo = _table()
    ImageDraw.Draw(photo).rectangle([216, 93, 633, 440], fill=(22, 24, 28))
    (box,) = engine.detect_subjects(photo)
    assert _near((box.x0, box.y0, box.x1, box.y1), (216 / 800, 93 / 534, 634 / 800, 441 / 534))
    rng = np.random.default_rng(5)
    shelf = Image.fromarray(rng.integers(0, 256, size=(400, 600, 3), dtype=np.uint8))
    assert engine.detect_subjects(shelf) == [Box(*b) for b in salient_boxes(engine._whole_map(shelf))]
