"""A per-process cache of bearer/session tokens, shared by every hook (and trigger) of a process."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

TOKEN_EXPIRY_MARGIN_SECONDS = 60.0
"""A token is dropped this long before it expires (at most half its lifetime)."""


@dataclass(frozen=True)
class _CachedToken:
    value: str
    expires_at: float


_UNMASKED: list[str] = []
"""Tokens stored since the flow driver last registered them with the secrets masker."""


def take_unmasked_tokens() -> list[str]:
    """The tokens to register with Airflow's secrets masker (the flow driver calls this)."""
    tokens = _UNMASKED[:]
    _UNMASKED.clear()
    return tokens


class TokenCache:
    """Tokens keyed by connection identity; a vendor flow reads, stores and discards them.

    Keys must identify the credentials (hash secrets into them), so two connections never
    share a token. ``discard`` only forgets the exact token that was refused, so a flow that
    already fetched a fresh one is not undone by a slower one.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._tokens: dict[Hashable, _CachedToken] = {}

    def get(self, key: Hashable) -> str | None:
        token = self._tokens.get(key)
        if token is None or token.expires_at <= self.clock():
            return None
        return token.value

    def put(self, key: Hashable, value: str, expires_in: float | None = None) -> None:
        """Store a token; ``expires_in`` seconds (``None``: until the vendor refuses it)."""
        if expires_in is None:
            expires_at = float("inf")
        else:
            expires_at = self.clock() + max(0.0, expires_in - min(TOKEN_EXPIRY_MARGIN_SECONDS, expires_in / 2))
        self._tokens[key] = _CachedToken(value, expires_at)
        _UNMASKED.append(value)

    def discard(self, key: Hashable, value: str) -> None:
        """Forget ``value`` unless another flow already replaced it."""
        token = self._tokens.get(key)
        if token is not None and token.value == value:
            del self._tokens[key]

    def clear(self) -> None:
        self._tokens.clear()
