"""Case-insensitive text search in every alphabet.

SQLite's LIKE and LOWER fold ASCII letters only: "café" did not find "CAFÉ", nor "münchen" "MÜNCHEN". On
SQLite the columns are lowered by Python's str.lower, registered on each connection; elsewhere (PostgreSQL)
by the database's own LOWER, which knows every alphabet. The words are lowered the same way in Python.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Func

SQLITE_FUNCTION = "snapshop_lower"


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def register_sqlite_lower(sender: object, connection: Any, **kwargs: object) -> None:
    """connection_created: give each SQLite connection the Unicode-aware lower function."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FUNCTION, 1, _lower, deterministic=True)


class Lowered(Func):
    """A text column in lower case, for every alphabet (see the module's docstring)."""

    function = "LOWER"
    arity = 1

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return super().as_sql(compiler, connection, function=SQLITE_FUNCTION, **extra_context)
