"""`manage.py check --deploy` is clean with the production environment from the README."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.timeout(120)

PRODUCTION_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "snapshop.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://snapshop.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "SNAPSHOP_DATA_DIR": str(tmp_path),
        **env,
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=100,
    )


def test_check_deploy_is_clean_in_production(tmp_path: Path) -> None:
    result = manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION_ENV
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_complains_without_production_settings(tmp_path: Path) -> None:
    """The test above means something: the defaults (development) are not production-ready."""
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", DEBUG="1")
    assert result.returncode != 0
    for check in ("security.W018", "snapshop.W002", "security.W004", "security.W008"):
        assert check in result.stderr + result.stdout


def test_the_data_folder_holds_the_default_database(tmp_path: Path) -> None:
    """SNAPSHOP_DATA_DIR moves the database too (README: database, media, index and static live there)."""
    data = tmp_path / "elsewhere"
    result = manage(tmp_path, "migrate", "--noinput", "-v", "0", SNAPSHOP_DATA_DIR=str(data), DATABASE_URL="")
    assert result.returncode == 0, result.stderr
    assert (data / "snapshop.sqlite3").is_file()
