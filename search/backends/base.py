"""What every backend gives back, and the errors a search can end with."""

from __future__ import annotations

from dataclasses import dataclass, field

from search.hits import ProductHit
from vision.engine import Box


class SearchFailed(Exception):
    """A search that could not be answered; `code` is stored in history, `message` shown to the shopper."""

    code = "search_failed"
    # Whether another backend may answer instead (network trouble, maintenance, quota, our key refused).
    fallback_allowed = False
    # The service refuses this server (its key, permission, IP): an administrator's to fix, logged as an error, and
    # its message (about the key) is not shown to the shopper (search.juhe_errors).
    operator_problem = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class EngineUnavailable(SearchFailed):
    code = "engine_unavailable"
    fallback_allowed = True


@dataclass
class BackendAnswer:
    hits: list[ProductHit]
    answered_by: str
    region: Box | None = None
    request_id: str = ""
    notice: str = ""
    extra: dict[str, object] = field(default_factory=dict)
