"""The Juhe API's failures: one exception per documented error code, plus transport problems.

Each is a `SearchFailed` with a message a shopper or an administrator can act
on; `fallback_allowed` marks those where the local engine may answer instead
(every failure but the photo's own: network, maintenance, quota, timeouts, HTTP errors, unreadable answers, and
Juhe refusing our key, which `operator_problem` marks for the log), and
`retries` how many extra attempts the code deserves (254703 twice, 10014/10020 once).
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext as _

from search.backends.base import SearchFailed


class JuheError(SearchFailed):
    """Base of every Juhe failure. `error_code` is Juhe's number (0 for transport problems)."""

    code = "juhe_error"
    error_code = 0
    retries = 0  # how many extra attempts this answer deserves
    fallback_allowed = False
    # operator_problem (SearchFailed): the shopper is answered from the local catalog meanwhile (a wrong key took
    # every photo search down, QA20), and told only that Juhe is unavailable.

    def __init__(self, message: str | None = None, *, reason: str = "") -> None:
        self.reason = reason
        super().__init__(message or self.default_message())

    def default_message(self) -> str:
        return _("The Juhe search service failed.")


def _coded(
    number: int, *, fallback: bool, retries: int = 0, operator: bool = False
) -> Callable[[type[JuheError]], type[JuheError]]:
    def decorate(cls: type[JuheError]) -> type[JuheError]:
        cls.error_code, cls.code, cls.fallback_allowed, cls.retries = number, f"juhe_{number}", fallback, retries
        cls.operator_problem = operator
        return cls

    return decorate


@_coded(10001, fallback=True, operator=True)
class WrongKey(JuheError):
    def default_message(self) -> str:
        return _("The Juhe API key is wrong (10001). An administrator should check JUHE_API_KEY.")


@_coded(10002, fallback=True, operator=True)
class NoPermission(JuheError):
    def default_message(self) -> str:
        return _("The Juhe API key may not use the photo search (10002). Apply for the API in the Juhe console.")


@_coded(10003, fallback=True, operator=True)
class KeyExpired(JuheError):
    def default_message(self) -> str:
        return _("The Juhe API key has expired (10003). An administrator should renew it.")


@_coded(10004, fallback=True, operator=True)
class WrongOpenId(JuheError):
    def default_message(self) -> str:
        return _("Juhe rejected the account id (10004). An administrator should check the Juhe account.")


@_coded(10005, fallback=True, operator=True)
class AppNotReviewed(JuheError):
    def default_message(self) -> str:
        return _("The Juhe application has not been reviewed (10005). Submit the verification in the Juhe console.")


@_coded(10007, fallback=True, operator=True)
class UnknownSource(JuheError):
    def default_message(self) -> str:
        return _("Juhe does not recognise where the request comes from (10007). Check JUHE_API_URL.")


@_coded(10008, fallback=True, operator=True)
class BannedIp(JuheError):
    def default_message(self) -> str:
        return _("Juhe has blocked this server's IP address (10008). An administrator should contact Juhe.")


@_coded(10009, fallback=True, operator=True)
class BannedKey(JuheError):
    def default_message(self) -> str:
        return _("Juhe has blocked the API key (10009). An administrator should contact Juhe or use another key.")


@_coded(10011, fallback=True)
class IpQuotaExceeded(JuheError):
    def default_message(self) -> str:
        return _("Too many Juhe requests from this server right now (10011). Try again later.")


@_coded(10012, fallback=True)
class QuotaExceeded(JuheError):
    def default_message(self) -> str:
        return _("The Juhe request quota is used up (10012). Try again later; an administrator can buy more.")


@_coded(10013, fallback=True)
class TestKeyQuotaExceeded(JuheError):
    def default_message(self) -> str:
        return _("The Juhe test key's requests are used up (10013). An administrator should use a paid key.")


@_coded(10014, fallback=True, retries=1)
class UpstreamInternalError(JuheError):
    def default_message(self) -> str:
        return _("Juhe had an internal error (10014). Try again in a moment.")


@_coded(10020, fallback=True, retries=1)
class UnderMaintenance(JuheError):
    def default_message(self) -> str:
        return _("The Juhe photo search is under maintenance (10020). Try again later.")


@_coded(10021, fallback=True)
class Discontinued(JuheError):
    def default_message(self) -> str:
        return _("Juhe has stopped the photo search API (10021). An administrator should switch SNAPSHOP_BACKEND.")


@_coded(254701, fallback=False)
class BadImage(JuheError):
    def default_message(self) -> str:
        return _("Juhe could not use this picture (254701). Try a sharper JPEG photo of one product.")


@_coded(254703, fallback=True, retries=2)
class UpstreamNetworkError(JuheError):
    def default_message(self) -> str:
        return _("Juhe reported a network problem (254703). Try again in a moment.")


@_coded(254704, fallback=False)
class QueryFailed(JuheError):
    def default_message(self) -> str:
        if self.reason:
            return _("Juhe could not search this photo (254704): %(reason)s") % {"reason": self.reason}
        return _("Juhe could not search this photo (254704). Try a closer photo of one product.")


class UnknownErrorCode(JuheError):
    code = "juhe_unknown"
    fallback_allowed = True

    def default_message(self) -> str:
        return _("Juhe answered with an unknown error (%(reason)s).") % {"reason": self.reason}


class Unreachable(JuheError):
    code = "juhe_unreachable"
    fallback_allowed = True

    def default_message(self) -> str:
        return _("The Juhe service cannot be reached.")


class Timeout(JuheError):
    code = "juhe_timeout"
    fallback_allowed = True

    def default_message(self) -> str:
        return _("The Juhe service took too long to answer.")


class ServerError(JuheError):
    code = "juhe_http"
    fallback_allowed = True

    def default_message(self) -> str:
        return _("The Juhe service answered with an HTTP error (%(reason)s).") % {"reason": self.reason}


class BadResponse(JuheError):
    code = "juhe_bad_response"
    fallback_allowed = True

    def default_message(self) -> str:
        return _("The Juhe service sent an answer we cannot read.")


class NotConfigured(JuheError):
    code = "juhe_not_configured"
    fallback_allowed = True
    operator_problem = True

    def default_message(self) -> str:
        return _("The Juhe backend has no API key. An administrator should set JUHE_API_KEY.")


BY_CODE: dict[int, type[JuheError]] = {
    cls.error_code: cls
    for cls in (
        WrongKey, NoPermission, KeyExpired, WrongOpenId, AppNotReviewed, UnknownSource, BannedIp, BannedKey,
        IpQuotaExceeded, QuotaExceeded, TestKeyQuotaExceeded, UpstreamInternalError, UnderMaintenance,
        Discontinued, BadImage, UpstreamNetworkError, QueryFailed,
    )
}  # fmt: skip


# Codes about the photo itself; every other juhe_* code is the service's (its key, quota, network...). juhe_photo:
# history rows from before too thin panoramas were padded for Juhe instead of refused.
PHOTO_CODES = frozenset({"juhe_254701", "juhe_254704", "juhe_photo"})


def is_service_failure(code: str) -> bool:
    """A Juhe failure the shopper's photo did not cause: shown as "search is unavailable", not as a bad photo."""
    return code.startswith("juhe_") and code not in PHOTO_CODES


# The failures the local engine answers for whose message holds nothing of Juhe's own words: a saved search's
# fallback notice naming one of them can be written again in the language of the page that shows it.
FIXED_FALLBACKS: tuple[type[JuheError], ...] = (
    IpQuotaExceeded, QuotaExceeded, TestKeyQuotaExceeded, UpstreamInternalError, UnderMaintenance, Discontinued,
    UpstreamNetworkError, Unreachable, Timeout, BadResponse,
)  # fmt: skip
