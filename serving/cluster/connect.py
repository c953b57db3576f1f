"""Joining a Ray cluster as a driver (the bot host, `yo worker`)."""

from __future__ import annotations

import ray


def use_token_if_available() -> None:
    """Turn Ray's token authentication on (RAY_AUTH_MODE=token, in this process's environment, so
    that a `ray start` we run inherits it) when a token is at hand (RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) and RAY_AUTH_MODE is unset: what `ray start --head`
    does by itself, and what a driver or a joining node of Ray 2.60 does not do (a head started
    with a token would refuse them)."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # Ray without token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def connect_driver(address: str | None, namespace: str, **options: object) -> None:
    """`ray.init` for an existing cluster, with a token when one is at hand."""
    use_token_if_available()
    ray.init(address=address, namespace=namespace, **options)  # type: ignore[arg-type]
