"""The figures in the cache: keys, lifetimes, the computation lock, the list of districts.

The cache is an optimisation: when it does not answer, ``cache.get`` gives None and no lock
can be taken, and the page computes the figures in the request (``monitoring.refresh``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from coordination.models import District

log = logging.getLogger(__name__)

# Figures older than this are recomputed (in the background; beat refreshes them sooner).
CACHE_SECONDS = 300
# Computed figures are kept, and shown while a fresh set is computed, this long.
KEEP_SECONDS = 3600
# At most one computation at a time; the lock expires should a worker die in the middle.
# A computation that lives longer (a nationwide one) renews it every RENEW_LOCK_SECONDS.
COMPUTE_LOCK_SECONDS = 900
RENEW_LOCK_SECONDS = 60
# Pages and exports of one computation: a newer one is there after CACHE_SECONDS.
PAGE_SECONDS = 2 * CACHE_SECONDS
# After a computation failed, the next one is queued no sooner than this.
FAILED_BACKOFF_SECONDS = 300
CACHE_VERSION = "v5"  # v4: the published tables (monitoring.disclosure); v5: offers


DISTRICTS_KEY = f"figures:{CACHE_VERSION}:districts"


def district_list() -> list[tuple[int, str]]:
    """(id, name) of every district, by name: read on every figures request, so cached for
    a minute (a state has hundreds); saving or deleting a district clears it."""
    districts = cache.get(DISTRICTS_KEY)
    if districts is None:
        districts = list(District.objects.order_by("name").values_list("id", "name"))
        cache.set(DISTRICTS_KEY, districts, 60)
    return districts  # type: ignore[no-any-return]


@receiver([post_save, post_delete], sender=District, dispatch_uid="figures_districts")
def _districts_changed(**kwargs: Any) -> None:
    cache.delete(DISTRICTS_KEY)


def figures_data_key(
    today: dt.date, threshold: int, answer_days: int, districts: list[tuple[int, str]]
) -> str:
    return (
        f"figures:{CACHE_VERSION}:data:{today.isoformat()}:{threshold}:{answer_days}:"
        f"{districts_fingerprint(districts)}"
    )


LOCK_KEY = f"figures:{CACHE_VERSION}:computing"


def claim_computation() -> str | None:
    """Take the lock for one computation of the figures: its owner's token, or None if
    another computation holds it."""
    token = uuid.uuid4().hex
    return token if cache.add(LOCK_KEY, token, COMPUTE_LOCK_SECONDS) else None


def release_computation(token: str, *, failed: bool = False) -> None:
    """Give the lock back, if it is still ``token``'s (one that expired may be another's
    by now). After a failure it stays for ``FAILED_BACKOFF_SECONDS``: pages keep showing
    what they have (or that the figures are being prepared) instead of queueing the same
    failing computation every few seconds; the error is in the worker's log."""
    if cache.get(LOCK_KEY) != token:
        return
    if failed:
        cache.set(LOCK_KEY, token, FAILED_BACKOFF_SECONDS)
    else:
        cache.delete(LOCK_KEY)


@contextmanager
def keeping_computation(token: str, *, every: float = RENEW_LOCK_SECONDS) -> Iterator[None]:
    """Hold the lock for as long as the block runs: a thread renews its expiry every
    ``every`` seconds while it is still ``token``'s. Without it a computation longer than
    ``COMPUTE_LOCK_SECONDS`` (thousands of districts) would let the next beat start a second
    one beside it, and so on. A worker that dies stops renewing: the lock expires as before."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(every):
            try:
                if cache.get(LOCK_KEY) != token:
                    return  # expired and taken by another, or released: not ours to extend
                cache.touch(LOCK_KEY, COMPUTE_LOCK_SECONDS)
            except Exception:  # the cache is an optimisation: the computation goes on
                log.warning("figures: the computation lock could not be renewed", exc_info=True)

    thread = threading.Thread(target=renew, name="figures-lock", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def computation_running() -> bool:
    """Whether a computation holds the lock (False too when the cache does not answer)."""
    return cache.get(LOCK_KEY) is not None


def cache_is_shared() -> bool:
    """Whether the worker sees this process's cache: not Django's local-memory or dummy
    cache (the default without ``CACHE_URL``), which every process keeps for itself."""
    backend = str(settings.CACHES["default"]["BACKEND"])
    return not backend.endswith(("LocMemCache", "DummyCache"))


def districts_fingerprint(districts: list[tuple[int, str]]) -> str:
    """Changes when a district is added, removed or renamed (the cubes list them)."""
    return hashlib.sha256(repr(districts).encode()).hexdigest()[:12]
