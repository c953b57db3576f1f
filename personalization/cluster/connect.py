"""Joining a Ray cluster as a driver (the bot host, `yo worker`)."""

from __future__ import annotations

import ray


def connect_driver(address: str | None, namespace: str, **options: object) -> None:
    """`ray.init` for an existing cluster, with token authentication on when a token is at hand
    (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) and RAY_AUTH_MODE is unset:
    what `ray start` does on the same machine, which a driver of Ray 2.60 does not do by itself
    (it would be refused by a head started with a token)."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # Ray without token authentication
        pass
    else:
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    ray.init(address=address, namespace=namespace, **options)  # type: ignore[arg-type]
