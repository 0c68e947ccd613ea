"""Faults while serving: a missing or corrupt model, a lost or damaged vector index, a locked database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from catalog.index import get_local_index, reset_local_index
from search.services import record_search, run_search
from tests.conftest import CatalogItem
from tests.images import jpeg

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def no_engine_loaded(monkeypatch):
    """Forget the process's engine so the next search loads the model file again (restored afterwards)."""
    import vision.engine

    monkeypatch.setattr(vision.engine, "_engine", None)
    reset_local_index()
    yield
    reset_local_index()


@pytest.fixture(params=["missing", "corrupt", "empty"])
def broken_model(request, tmp_path: Path, settings, no_engine_loaded) -> Path:
    path = tmp_path / "model.onnx"
    if request.param == "corrupt":
        path.write_bytes(b"\x08\x07\x12\x04junk" + os.urandom(4096))
    elif request.param == "empty":
        path.write_bytes(b"")
    settings.SNAPSHOP_MODEL_PATH = path
    return path


@pytest.mark.django_db
def test_a_broken_model_answers_engine_unavailable(broken_model: Path) -> None:
    outcome = run_search(jpeg(320, 240))
    assert outcome.error_code == "engine_unavailable"
    assert "not available" in outcome.error_message
    saved = record_search(outcome, jpeg(320, 240))
    assert saved.error_code == "engine_unavailable"


@pytest.mark.django_db
def test_the_web_page_says_so_with_a_503_not_a_500(broken_model: Path) -> None:
    response = Client().post("/search/", {"photo": _upload()}, HTTP_HX_REQUEST="true")
    assert response.status_code == 503
    assert "not available" in response.content.decode()


def test_manage_check_names_the_broken_model_file(broken_model: Path) -> None:
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    message = str(raised.value)
    assert "snapshop.E001" in message and str(broken_model) in message
    assert "make model" in message


def test_check_is_only_a_warning_for_the_juhe_backend(broken_model: Path, settings) -> None:
    settings.SNAPSHOP_BACKEND = "juhe"
    from search.checks import check_model_file

    (warning,) = check_model_file()
    assert warning.id == "snapshop.W001"


def test_check_passes_with_the_real_model() -> None:
    call_command("check")


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("photo.jpg", jpeg(320, 240), content_type="image/jpeg")


def _index_files() -> list[Path]:
    files = [p for p in Path(django_settings.SNAPSHOP_INDEX_DIR).rglob("*") if p.is_file()]
    assert files, "the import wrote no index file"
    return files


@pytest.fixture(params=["exact", "hnsw"])
def file_store(request: pytest.FixtureRequest, settings) -> str:
    """Both stores that keep their index in files (hnsw is the default)."""
    settings.SNAPSHOP_VECTOR_STORE = request.param
    reset_local_index()
    return str(request.param)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.unlink(),
        lambda path: path.write_bytes(b"not an index at all"),
        lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),  # truncated
        lambda path: path.write_bytes(b""),
    ],
    ids=["deleted", "garbage", "truncated", "empty"],
)
def test_a_lost_or_damaged_index_is_rebuilt_from_the_database(
    file_store: str, small_catalog: list[CatalogItem], damage
) -> None:
    for path in _index_files():
        damage(path)
    reset_local_index()  # as after a restart
    item = small_catalog[3]
    outcome = run_search(item.picture.read_bytes())
    assert outcome.ok, outcome.error_message
    assert outcome.hits[0].sku_id == item.product.sku_id
    assert len(get_local_index().store) == len(small_catalog)
    assert any(path.stat().st_size > 0 for path in _index_files())


@pytest.mark.django_db
def test_an_index_damaged_while_serving_is_rebuilt(file_store: str, small_catalog: list[CatalogItem]) -> None:
    item = small_catalog[0]
    assert run_search(item.picture.read_bytes()).ok
    for path in _index_files():  # new mtimes: the next search reloads
        path.write_bytes(b"garbage written by a dying process")
    outcome = run_search(item.picture.read_bytes())
    assert outcome.ok, outcome.error_message
    assert outcome.hits[0].sku_id == item.product.sku_id


LOCKED_DB_SCRIPT = r"""
import json, sqlite3, threading, time
from django.conf import settings
from django.db import connection
from search.hits import ProductHit
from search.models import Search
from search.services import SearchOutcome, record_search
from vision.prepare import prepare_image
from tests.images import jpeg

data = jpeg(200, 160)
outcome = SearchOutcome(backend="local", photo=prepare_image(data), answered_by="local",
                        hits=[ProductHit(sku_id="1", sku_name="one", similarity=0.9)])
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    mode = cursor.fetchone()[0]
other = sqlite3.connect(settings.DATABASES["default"]["NAME"], isolation_level=None, check_same_thread=False)
other.execute("BEGIN EXCLUSIVE")
other.execute("INSERT INTO django_session (session_key, session_data, expire_date) VALUES ('x'*1, '', '2030-01-01')")
def release():
    time.sleep(1.2)
    other.execute("COMMIT")
threading.Thread(target=release).start()
started = time.monotonic()
search = record_search(outcome, data, session_key="locked")
waited = time.monotonic() - started
print(json.dumps({"mode": mode, "waited": waited, "rows": Search.objects.filter(session_key="locked").count(),
                  "hits": search.hits.count()}))
"""


def test_a_briefly_locked_database_makes_the_search_wait_not_fail(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "SNAPSHOP_DATA_DIR": str(tmp_path),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_SETTINGS_MODULE": "snapshop_site.settings",
    }
    manage = [sys.executable, "manage.py"]
    cwd = django_settings.BASE_DIR
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=cwd, env=env, check=True, timeout=120)
    result = subprocess.run(
        [*manage, "shell", "-c", LOCKED_DB_SCRIPT], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["mode"] == "wal"
    assert report["waited"] >= 1.0  # it really met the lock...
    assert report["rows"] == 1 and report["hits"] == 1  # ...waited, and wrote the search


def test_a_search_whose_row_cannot_be_written_leaves_no_photo_behind(db, settings, tmp_path: Path, monkeypatch) -> None:
    """The files are written before the row; a failed insert left them on disk, where retention never looks."""
    from django.db import DatabaseError

    from search.models import Search

    settings.MEDIA_ROOT = str(tmp_path)
    data = jpeg()
    outcome = run_search(data)
    assert outcome.photo is not None

    def failing_insert(self, hits) -> None:
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(Search, "save_hits", failing_insert)
    with pytest.raises(DatabaseError):
        record_search(outcome, data)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert not Search.objects.exists()
