"""SnapShop settings: every value comes from the environment, with a safe default.

Each variable is documented in the README ("Settings").
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.utils.translation import gettext_lazy as _

from vision.cpu import default_model_path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


def database_from_url(url: str) -> dict[str, object]:
    """sqlite:///relative/or//absolute/path, or postgres://user:pass@host:port/name.

    For PostgreSQL on a unix socket, put the socket folder in the query:
    postgres:///snapshop?host=/path/to/socket/dir
    """
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path[1:]) if parsed.path.startswith("/") else parsed.path
        name = Path(path) if Path(path).is_absolute() else BASE_DIR / path
        name.parent.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(name),
            # WAL lets readers run beside one writer; the busy timeout makes a
            # writer wait for a lock instead of failing with "database is locked".
            # Kept open between requests (each server thread its own): a new connection costs its pragmas and
            # the schema's parse on the first query, ~2-3 ms of CPU a search under gunicorn.
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": env_int("SQLITE_BUSY_TIMEOUT", 20),
            },
        }
    if parsed.scheme in {"postgres", "postgresql"}:
        query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "snapshop",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": unquote(query.get("host", parsed.hostname or "")),
            "PORT": str(parsed.port or query.get("port", "")),
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
        }
    raise ValueError(f"DATABASE_URL scheme not supported: {parsed.scheme!r}")


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or "snapshop-insecure-development-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "catalog",
    "search",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Pages with buy links are chosen by the User-Agent: their responses say so (Vary).
    "search.devices.DeviceVaryMiddleware",
    # Inside sessions and the language: the page it renders has the site's header in the shopper's language.
    "snapshop_site.method_not_allowed.MethodNotAllowedPageMiddleware",
    # Last of the middleware that runs before the views: before CSRF's check reads the body.
    "search.body_limit.BodyLimitMiddleware",
]

ROOT_URLCONF = "snapshop_site.urls"
WSGI_APPLICATION = "snapshop_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATA_DIR = Path(os.environ.get("SNAPSHOP_DATA_DIR", str(BASE_DIR / "data")))
DEFAULT_DATABASE_URL = f"sqlite:///{DATA_DIR / 'snapshop.sqlite3'}"
DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", str(DATA_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns at every start without it
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("STATIC_MANIFEST", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve files from STATICFILES_DIRS directly, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True

# Uploads: photos above this size are refused with a message, never read whole into memory.
SNAPSHOP_MAX_UPLOAD_BYTES = env_int("SNAPSHOP_MAX_UPLOAD_MB", 20) * 1024 * 1024
# Form fields read into memory (not files): the API's photo arrives as base64 in a form field, 4/3 of its
# size, and URL-encoding makes base64's "+" and "/" three bytes each (~1.06x more): 1.5x the photo limit
# lets a photo up to that limit through (with only 1 MB more, photos above ~14 MB were refused).
DATA_UPLOAD_MAX_MEMORY_SIZE = SNAPSHOP_MAX_UPLOAD_BYTES * 3 // 2 + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Decompression bombs: images with more pixels than this are refused before decoding.
SNAPSHOP_MAX_IMAGE_PIXELS = env_int("SNAPSHOP_MAX_IMAGE_PIXELS", 50_000_000)

# Search engine.
SNAPSHOP_BACKEND = os.environ.get("SNAPSHOP_BACKEND", "local")
# The int8 export where the processor computes int8 exactly (VNNI, ARM dot products), else the float one.
SNAPSHOP_MODEL_PATH = Path(os.environ.get("SNAPSHOP_MODEL_PATH") or default_model_path(BASE_DIR / "models"))
SNAPSHOP_VECTOR_STORE = os.environ.get("SNAPSHOP_VECTOR_STORE", "hnsw")
SNAPSHOP_INDEX_DIR = Path(os.environ.get("SNAPSHOP_INDEX_DIR", str(DATA_DIR / "index")))
# Server stores: a libpq URI for pgvector (defaults to DATABASE_URL when that is PostgreSQL), Milvus's URI.
SNAPSHOP_PGVECTOR_DSN = os.environ.get("SNAPSHOP_PGVECTOR_DSN") or (
    os.environ.get("DATABASE_URL", "") if os.environ.get("DATABASE_URL", "").startswith("postgres") else ""
)
SNAPSHOP_MILVUS_URI = os.environ.get("MILVUS_URI", "")
SNAPSHOP_MILVUS_TOKEN = os.environ.get("MILVUS_TOKEN", "")  # a cluster with authentication: "user:password"
SNAPSHOP_RESULTS_PER_PAGE = env_int("SNAPSHOP_RESULTS_PER_PAGE", 20)
SNAPSHOP_SIMILARITY_FLOOR = env_float("SNAPSHOP_SIMILARITY_FLOOR", 0.35)
# Re-rank the top candidates with colour and local-feature (SIFT) verification: far more precise, ~50 ms more.
SNAPSHOP_RERANK = env_bool("SNAPSHOP_RERANK", True)
# Searches fully re-ranked at once per process; the others get a shorter SIFT check or none (brownout), and say so.
SNAPSHOP_RERANK_MAX_IN_FLIGHT = env_int("SNAPSHOP_RERANK_MAX_IN_FLIGHT", 1)
# ... and when the machine's processors were busier than this (percent) over the last half second; 0: never.
SNAPSHOP_RERANK_MAX_CPU = env_float("SNAPSHOP_RERANK_MAX_CPU", 85.0)
# Up to this many searches in the process, one beyond SNAPSHOP_RERANK_MAX_IN_FLIGHT still gets the quick SIFT
# check (a smaller copy of the photo, fewer candidates) and says so; 0: no quick tier.
SNAPSHOP_RERANK_QUICK_MAX_IN_FLIGHT = env_int("SNAPSHOP_RERANK_QUICK_MAX_IN_FLIGHT", 2)
# ... but only while the processors were less busy than this (percent); 0: whatever the load.
SNAPSHOP_RERANK_QUICK_MAX_CPU = env_float("SNAPSHOP_RERANK_QUICK_MAX_CPU", 80.0)

# Catalog pictures fetched by URL (imports, products learnt from Juhe): see catalog/fetch.py.
SNAPSHOP_LEARN_FROM_JUHE = env_bool("SNAPSHOP_LEARN_FROM_JUHE", True)
SNAPSHOP_LEARN_PICTURES = env_bool("SNAPSHOP_LEARN_PICTURES", True)
SNAPSHOP_FETCH_ALLOW_PRIVATE = env_bool("SNAPSHOP_FETCH_ALLOW_PRIVATE", False)
SNAPSHOP_FETCH_MAX_BYTES = env_int("SNAPSHOP_FETCH_MAX_BYTES", 5 * 1024 * 1024)
SNAPSHOP_FETCH_TIMEOUT = env_float("SNAPSHOP_FETCH_TIMEOUT", 10.0)
SNAPSHOP_FETCH_CA_BUNDLE = os.environ.get("SNAPSHOP_FETCH_CA_BUNDLE", "")  # empty: certifi's bundle

# Juhe upstream (the `juhe` backend).
JUHE_API_URL = os.environ.get("JUHE_API_URL", "http://apis.juhe.cn/snapshop/query")
JUHE_API_KEY = os.environ.get("JUHE_API_KEY", "")
JUHE_CONNECT_TIMEOUT = env_float("JUHE_CONNECT_TIMEOUT", 3.0)
JUHE_READ_TIMEOUT = env_float("JUHE_READ_TIMEOUT", 10.0)
# The `both` backend: how long Juhe may still take once the local engine has answered (a slow upstream kept every
# search waiting JUHE_READ_TIMEOUT); past it the page shows the local results and says Juhe took too long.
JUHE_BOTH_WAIT = env_float("JUHE_BOTH_WAIT", 3.0)
JUHE_RETRIES = env_int("JUHE_RETRIES", 2)
JUHE_RETRY_BACKOFF = env_float("JUHE_RETRY_BACKOFF", 0.25)

# History.
SNAPSHOP_HISTORY_RETENTION_DAYS = env_int("SNAPSHOP_HISTORY_RETENTION_DAYS", 90)

SESSION_COOKIE_AGE = 60 * 60 * 24 * 30
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL", False) else None
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- Security and abuse limits (issue 6; documented in the README, "Security") ---
from csp.constants import NONE, SELF  # noqa: E402

# CSP (django-csp 4.0): scripts and styles only from our own static files, never inline.
# Product pictures may be remote (https:); blob: is the photo preview, data: small inline icons. With a Juhe
# backend, cards show the upstream's own picture links, and Juhe (JD's CDN) and other SnapShops may name http: ones.
REMOTE_PICTURE_SCHEMES = ["https:"] if SNAPSHOP_BACKEND == "local" else ["https:", "http:"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:", *REMOTE_PICTURE_SCHEMES],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Fixed-window limits per minute in Django's cache (LocMemCache: per process, so with
# gunicorn's N workers a client may get up to N times the figure). 0 disables a limit.
SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE = env_int("SNAPSHOP_RATE_LIMIT_SEARCHES_PER_MINUTE", 60)  # per session
SNAPSHOP_RATE_LIMIT_IP_MULTIPLIER = env_int("SNAPSHOP_RATE_LIMIT_IP_MULTIPLIER", 4)  # per IP: shoppers behind one NAT
SNAPSHOP_API_RATE_LIMIT_PER_MINUTE = env_int("SNAPSHOP_API_RATE_LIMIT_PER_MINUTE", 120)  # per IP on /snapshop/query
# Behind one reverse proxy, set to 1 so the client IP is the last X-Forwarded-For entry.
SNAPSHOP_TRUST_X_FORWARDED_FOR = env_bool("SNAPSHOP_TRUST_X_FORWARDED_FOR", False)
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.locale.LocaleMiddleware") + 1, "search.ratelimit.RateLimitMiddleware"
)
# A stale CSRF token (the shopper logged in elsewhere, cleared cookies): a page that says to reload, not Django's.
CSRF_FAILURE_VIEW = "snapshop_site.csrf_failure.csrf_failure"
