"""Which buy link a shopper gets depends on the device their browser runs on."""

from __future__ import annotations

from functools import lru_cache

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
