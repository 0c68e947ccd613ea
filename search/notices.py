"""A saved search's notice (the server was busy, Juhe or our own catalog was unavailable) in the language of the
page that shows it, whatever the language of the shopper who searched."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext


def notice_now(stored: str) -> str:
    """A saved search's notice in the page's language: it is stored as it was shown, in the language of the
    shopper who searched (a search made in English showed its English notice on the Chinese page). The busy
    server's notices and the Juhe fallback's whose reason is our own fixed words are recognised in every
    language, and so are the `both` backend's notices that our own catalog failed; a fallback carrying Juhe's own
    words (an unknown code, an HTTP status) stays as stored."""
    if not stored:
        return stored
    for notice in notice_makers():
        if stored in written_forms(notice):
            return notice()
    return stored


@lru_cache(maxsize=1)
def notice_makers() -> tuple[Callable[[], str], ...]:
    """Each notice a search may store, made in the active language when called."""
    from search.backends.local import BUSY_TEXT, QUICK_TEXT
    from search.backends.remote import fixed_fallback_notices, fixed_juhe_only_notices

    return (
        partial(gettext, BUSY_TEXT),
        partial(gettext, QUICK_TEXT),
        *fixed_fallback_notices(),
        *fixed_juhe_only_notices(),
    )


@lru_cache(maxsize=32)  # the catalogues are loaded once per process; this ran on every render of such a search
def written_forms(notice: Callable[[], str]) -> frozenset[str]:
    forms = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            forms.add(notice())
    return frozenset(forms)
