"""Where discord.py talks to: the public Discord API, or a server named by the settings.

discord.py builds every REST URL (bot and webhook routes alike) from the class attribute
`discord.http.Route.BASE`, and opens the gateway at `DiscordWebSocket.DEFAULT_GATEWAY`
(it also falls back to it after an invalidated session). Both are process-wide, so the
override is too: `point_at` sets them and returns a function that puts them back.
"""

from __future__ import annotations

import re
from typing import Callable

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import INTERNAL_API_VERSION, Route

_VERSIONED = re.compile(r"/v\d+$")


def rest_base(api_url: str) -> str:
    """DISCORD_API_URL as discord.py's Route.BASE: no trailing slash, ending in the API version.

    "http://127.0.0.1:8080/api" and "http://127.0.0.1:8080/api/v10/" both give
    "http://127.0.0.1:8080/api/v10".
    """
    base = api_url.strip().rstrip("/")
    if not base:
        raise ValueError("empty API URL")
    if not _VERSIONED.search(base):
        base = f"{base}/v{INTERNAL_API_VERSION}"
    return base


def point_at(api_url: str = "", gateway_url: str = "") -> Callable[[], None]:
    """Send REST calls to `api_url` and open the gateway at `gateway_url` (each when given)."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    if api_url:
        Route.BASE = rest_base(api_url)
    if gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def restore() -> None:
        Route.BASE = old_base
        DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    return restore


def use_gateway(url: str) -> None:
    """Open the gateway at `url` from now on (e.g. the one GET /gateway/bot returned)."""
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
