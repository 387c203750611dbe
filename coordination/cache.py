"""Django's Redis cache, made optional: when Redis cannot be reached it answers "not cached".

The cache is an optimisation (docs/adr/0005-cache-is-optional.md). Every caller already
copes with a miss, so the one place that turns an unreachable Redis into misses is this
backend, not a try/except around each call. A call that fails opens a small circuit
breaker: for ``retry_after`` seconds every process skips Redis altogether, so a Redis that
hangs costs one socket timeout per process every few seconds instead of one per cache call
(measured: a request reads the office settings several times, one second each with a hung
Redis). Reads answer a miss, writes are dropped, ``add`` answers "not added".

Only connection-level trouble is swallowed (``redis.RedisError``, ``OSError``): a value that
cannot be pickled or unpickled is a bug and still raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, ClassVar, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Connection trouble: refused, reset, timed out, name not resolved, Redis out of memory or
# loading its data after a restart.
UNAVAILABLE = (RedisError, OSError)


class FailSoftRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` that never raises for an outage.

    ``OPTIONS`` are Django's (redis-py connection-pool arguments such as
    ``socket_connect_timeout`` and ``socket_timeout``) plus ``retry_after``: seconds to
    skip Redis after a failed call (default 10).
    """

    # Per server list, the monotonic time until which Redis is skipped. Shared by every
    # thread of the process (Django builds one cache object per thread).
    _down_until: ClassVar[dict[str, float]] = {}

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        self.retry_after = float(options.pop("retry_after", 10))
        super().__init__(server, {**params, "OPTIONS": options})
        self._breaker_key = str(server)

    # --- the breaker -------------------------------------------------------------------------

    @property
    def is_skipping(self) -> bool:
        """Whether a recent failure makes this process skip Redis for now."""
        return time.monotonic() < self._down_until.get(self._breaker_key, 0.0)

    def reset_breaker(self) -> None:
        """Try Redis again on the next call (tests; an operator's shell)."""
        self._down_until.pop(self._breaker_key, None)

    def _soft(self, fallback: T, call: Callable[[], T]) -> T:
        if self.is_skipping:
            return fallback
        try:
            result = call()
        except UNAVAILABLE as exc:
            if self._breaker_key not in self._down_until:
                # Class and message only: the message names host and port, never a password.
                log.warning(
                    "Cache unreachable (%s: %s); working without it, next try in %.0f s",
                    type(exc).__name__,
                    exc,
                    self.retry_after,
                )
            self._down_until[self._breaker_key] = time.monotonic() + self.retry_after
            return fallback
        if self._down_until.pop(self._breaker_key, None) is not None:
            log.warning("Cache reachable again")
        return result

    # --- Django's cache API ------------------------------------------------------------------

    def add(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> bool:
        return self._soft(False, partial(super().add, key, value, timeout, version))

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._soft(default, partial(super().get, key, default, version))

    def set(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> None:
        self._soft(None, partial(super().set, key, value, timeout, version))

    def touch(
        self, key: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return self._soft(False, partial(super().touch, key, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._soft(False, partial(super().delete, key, version))

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        keys = list(keys)
        return self._soft({}, partial(super().get_many, keys, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._soft(False, partial(super().has_key, key, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        missing = object()
        value = self._soft(missing, partial(super().incr, key, delta, version))
        if value is missing:
            # Django's contract for a key that is not there (the cache holds nothing now).
            raise ValueError(f"Key '{key}' not found (cache unreachable)")
        return value  # type: ignore[return-value]

    def set_many(
        self,
        data: dict[Any, Any],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[Any]:
        # The keys that were not stored: all of them.
        return self._soft(list(data), partial(super().set_many, data, timeout, version))

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        keys = list(keys)
        self._soft(None, partial(super().delete_many, keys, version))

    def clear(self) -> None:
        self._soft(None, partial(super().clear))

    # --- the health check ------------------------------------------------------------------

    def ping(self) -> bool:
        """Whether Redis answers now (ignores and resets the breaker: /healthz asks)."""
        try:
            ok = bool(self._cache.get_client(write=True).ping())
        except UNAVAILABLE:
            return False
        self.reset_breaker()
        return ok
