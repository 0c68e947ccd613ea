"""Start-up checks (`manage.py check`, and every runserver/migrate): a missing or corrupt model
file is reported in plain words before the first shopper meets "engine unavailable"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

_verified: dict[tuple[str, float, int], str] = {}  # (path, mtime, size) -> "" or the load error


def model_problem(path: Path) -> str:
    """ "" when the ONNX file loads; else what is wrong with it. Loads once per file version."""
    if not path.is_file():
        return (
            f"Model file {path} not found. Run `make model` (or `make run`) to export it, or set SNAPSHOP_MODEL_PATH."
        )
    stat = path.stat()
    if stat.st_size == 0:
        return f"Model file {path} is empty. Delete it and run `make model` again."
    key = (str(path), stat.st_mtime, stat.st_size)
    if key not in _verified:
        from vision.model import FeatureNet, ModelUnavailable

        try:
            FeatureNet(path, threads=1)
            _verified[key] = ""
        except ModelUnavailable as exc:
            _verified[key] = f"{exc} Delete it and run `make model` again."
    return _verified[key]


@register("snapshop")
def check_model_file(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    backend = getattr(settings, "SNAPSHOP_BACKEND", "local")
    problem = model_problem(Path(settings.SNAPSHOP_MODEL_PATH))
    if not problem:
        return []
    if backend == "juhe":
        return [
            Warning(
                problem,
                hint="The juhe backend works without it, but cannot fall back to the local engine.",
                id="snapshop.W001",
            )
        ]
    return [
        Error(
            problem,
            hint="Searches answer 'engine unavailable' until the model file is fixed.",
            id="snapshop.E001",
        )
    ]


@register("security", deploy=True)
def check_secret_key_is_set(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Django's own W009 does not know our development default (it is long and varied enough)."""
    if "insecure-development-key" in str(settings.SECRET_KEY):
        return [
            Warning(
                "SECRET_KEY is the public development default.",
                hint="Set the SECRET_KEY environment variable to a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(50))').",
                id="snapshop.W002",
            )
        ]
    return []
