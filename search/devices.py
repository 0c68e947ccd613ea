"""Which buy link a shopper gets depends on the device their browser runs on."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from user_agents import parse as parse_user_agent

PC = "pc"
MOBILE = "mobile"


@lru_cache(maxsize=1024)
def device_kind(user_agent: str) -> str:
    """'mobile' for phones and tablets, 'pc' for everything else (desktop browsers, bots, no header)."""
    if not user_agent:
        return PC
    agent = parse_user_agent(user_agent[:1000])
    return MOBILE if agent.is_mobile or agent.is_tablet else PC


def device_of(request: HttpRequest) -> str:
    """The shopper's device, from the User-Agent; a response made with it varies on that header
    (DeviceVaryMiddleware), so no cache gives a phone's buy links to a desktop or the other way round."""
    request.device_dependent = True  # type: ignore[attr-defined]
    return device_kind(request.headers.get("user-agent", ""))


class DeviceVaryMiddleware:
    """Adds `Vary: User-Agent` to a response whose page was chosen for the device (device_of)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "device_dependent", False):
            patch_vary_headers(response, ("User-Agent",))
        return response
