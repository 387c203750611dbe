"""The protection of one computation of the figures, in independent parts: reused when their
input has not changed, computed in parallel when it has.

The figures are seven protection problems that share no cell (``monitoring.computation``):
children waiting (today by group, and at each month's end), referrals pending, registrations,
placements, referral outcomes, answers on time, offer registrations. Each is a ``Part``: its
counts, dimensions and threshold, everything its protection reads. ``protect_part`` is a pure
function of that input, so

- **incremental**: a part's published tables are kept in the cache under a *fingerprint* of
  its input (and of the disclosure code); a computation whose part has the same fingerprint
  reuses them instead of protecting it again. Identical input gives the identical result, cell
  by cell: nothing is approximated. Finer parts (a month, a district) are not independent: the
  boxes of secondary suppression run across months (the periods are their sums) and districts
  (the city's totals), so recomputing one month alone could hide different cells than the full
  protection (see ``docs/adr/0018-figures-in-independent-parts.md``).
- **parallel**: the parts that must be protected go to a pool of processes (``processes``),
  largest first; each process runs the same code on the same input, so the result is the same
  as in one process.

The cache is an optimisation here too: when it does not answer, every part is computed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache

from monitoring import disclosure
from monitoring.cache import CACHE_VERSION
from monitoring.disclosure import Cube, Dimension, PublishedTable, publish
from monitoring.publication import (
    Depth,
    choose_detail,
    stock_published,
    waiting_published,
)

logger = logging.getLogger(__name__)

# A part's published tables are kept this long for the next computation to reuse (the
# computation runs every few minutes; a closed month's parts stay the same for days).
PART_SECONDS = 24 * 3600

Counts = Mapping[tuple[Any, ...], int]


@dataclass(frozen=True)
class Part:
    """One independent protection problem: ``kind`` names how it is protected
    (``protect_part``), ``inputs`` are all it reads (picklable: it may go to another process)."""

    name: str
    kind: str
    threshold: int
    inputs: tuple[Any, ...]

    @property
    def size(self) -> int:
        """Roughly the work: the number of counts (the largest parts are started first)."""
        return sum(len(i) for i in self.inputs if isinstance(i, Mapping))


def waiting_part(
    threshold: int,
    district_dim: Dimension,
    group_dim: Dimension,
    target_dim: Dimension,
    month_of_stock: Dimension,
    current: Any,
    waiting_counts: Counts,
    stock: Counts,
) -> Part:
    """The children waiting today by group and at each month's end by target type: two cubes
    protected together (today's cells are in both)."""
    inputs = (district_dim, group_dim, target_dim, month_of_stock, current, waiting_counts, stock)
    return Part("waiting", "waiting", threshold, inputs)


def single_part(
    name: str,
    threshold: int,
    dims: Sequence[Dimension],
    counts: Counts,
    rule: Callable[..., bool],
    levels: Sequence[int],
) -> Part:
    """One cube with the district detail chosen per target type (``choose_detail``)."""
    return Part(name, "single", threshold, (tuple(dims), counts, rule, tuple(levels)))


def plain_part(
    name: str,
    threshold: int,
    dims: Sequence[Dimension],
    counts: Counts,
    rule: Callable[..., bool],
) -> Part:
    """One cube with a fixed publication."""
    return Part(name, "plain", threshold, (tuple(dims), counts, rule))


def protect_part(part: Part) -> tuple[PublishedTable, ...]:
    """Protect one part from its input alone and publish its tables (a pure function)."""
    t = part.threshold
    if part.kind == "waiting":
        district_dim, group_dim, target_dim, month_of_stock, current, waiting, stock = part.inputs

        def both(depth: Depth) -> list[Cube]:
            cubes = [
                Cube(
                    "waiting",
                    [district_dim, group_dim],
                    waiting,
                    threshold=t,
                    fixed={"month": current},
                    published=partial(waiting_published, depth),
                ),
                Cube(
                    "waiting",
                    [month_of_stock, district_dim, target_dim],
                    stock,
                    threshold=t,
                    published=partial(stock_published, current, depth),
                ),
            ]
            disclosure.protect(cubes)
            return cubes

        return tuple(publish(c) for c in choose_detail(both, [2, 1, 0]))
    if part.kind == "single":
        dims, counts, rule, levels = part.inputs

        def one(depth: Depth) -> list[Cube]:
            cube = Cube(part.name, dims, counts, threshold=t, published=partial(rule, depth))
            disclosure.protect(cube)
            return [cube]

        return tuple(publish(c) for c in choose_detail(one, levels))
    if part.kind == "plain":
        dims, counts, rule = part.inputs
        cube = Cube(part.name, dims, counts, threshold=t, published=rule)
        disclosure.protect(cube)
        return (publish(cube),)
    raise ValueError(f"unknown kind of part: {part.kind!r}")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Changes with the code that decides what is hidden (the disclosure package, what each
    cube publishes, this module): a part kept by an older version is never reused."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(CACHE_VERSION.encode())
    for path in sorted([*(here / "disclosure").glob("*.py"), here / "publication.py"]):
        digest.update(path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _describe(value: Any) -> Any:
    """A stable, comparable description of an input for its fingerprint."""
    if isinstance(value, Dimension):
        return (
            "dimension",
            value.name,
            value.additive,
            value.nodes,
            tuple(value._parent),
            tuple(value._key_parts),
        )
    if isinstance(value, Mapping):
        return ("counts", tuple(sorted((repr(k), v) for k, v in value.items() if v)))
    if isinstance(value, tuple | list):
        return tuple(_describe(v) for v in value)
    if callable(value):
        return ("rule", value.__module__, value.__qualname__)
    return repr(value)


def fingerprint(part: Part) -> str:
    """A digest of everything the part's protection reads, and of the code that does it."""
    described = (part.name, part.kind, part.threshold, _describe(part.inputs))
    digest = hashlib.sha256(code_fingerprint().encode())
    digest.update(pickle.dumps(described, protocol=5))
    return digest.hexdigest()


# How long each part took to protect last time (the longest are started first).
SECONDS_KEY = f"figures:{CACHE_VERSION}:part-seconds"


def part_key(part: Part, print_: str) -> str:
    return f"figures:{CACHE_VERSION}:part:{part.name}:{print_}"


@dataclass
class Outcome:
    """The published tables of every part, and which parts were protected (not reused)."""

    tables: dict[str, tuple[PublishedTable, ...]]
    computed: list[str]
    reused: list[str]


def protect_parts(parts: Sequence[Part], *, processes: int = 1, reuse: bool = True) -> Outcome:
    """Every part's published tables: reused from the cache when its fingerprint is there
    (``reuse``), else protected, in ``processes`` processes at once (1: here), and kept."""
    prints = {p.name: fingerprint(p) for p in parts}
    tables: dict[str, tuple[PublishedTable, ...]] = {}
    if reuse:
        found = cache.get_many([part_key(p, prints[p.name]) for p in parts]) or {}
        for part in parts:
            kept = found.get(part_key(part, prints[part.name]))
            if kept is not None:
                tables[part.name] = kept
    reused = [p.name for p in parts if p.name in tables]
    # The longest first (as last time, else the most counts): the pool's other processes
    # take the short ones meanwhile.
    took = cache.get(SECONDS_KEY) or {}
    todo = sorted(
        (p for p in parts if p.name not in tables),
        key=lambda p: (-took.get(p.name, 0.0), -p.size),
    )
    for part, (result, seconds) in zip(todo, _run(todo, processes), strict=True):
        tables[part.name] = result
        took[part.name] = seconds
        cache.set(part_key(part, prints[part.name]), result, PART_SECONDS)
    if todo:
        cache.set(SECONDS_KEY, took, PART_SECONDS)
    return Outcome(_shared(tables), [p.name for p in todo], reused)


def _timed(part: Part) -> tuple[tuple[PublishedTable, ...], float]:
    started = time.perf_counter()
    result = protect_part(part)
    return result, time.perf_counter() - started


def _run(parts: Sequence[Part], processes: int) -> list[tuple[tuple[PublishedTable, ...], float]]:
    workers = min(processes, len(parts))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [_timed(p) for p in parts]
    # fork: the processes start with this one's modules loaded, read no database and no
    # cache (``protect_part`` is pure), and end with the pool.
    try:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        with pool:
            return list(pool.map(_timed, parts))
    except (AssertionError, OSError, BrokenProcessPool):
        # No processes to be had (a daemonic process may not start any, the system may be
        # out of them): the same protection, here.
        logger.warning("figures: no process pool, protecting the parts one by one")
        return [_timed(p) for p in parts]


def _shared(
    tables: dict[str, tuple[PublishedTable, ...]],
) -> dict[str, tuple[PublishedTable, ...]]:
    """The tables with one copy of each dimension's maps (tables from other processes or from
    the cache bring their own), so the cached figures hold each once."""
    positions: dict[tuple[Any, ...], Mapping[Any, int]] = {}
    nodes: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    out: dict[str, tuple[PublishedTable, ...]] = {}
    for name, group in tables.items():
        shared = []
        for table in group:
            kept_nodes = tuple(nodes.setdefault(n, n) for n in table.nodes)
            kept_positions = tuple(
                positions.setdefault(n, p)
                for n, p in zip(table.nodes, table.positions, strict=True)
            )
            shared.append(dataclasses.replace(table, nodes=kept_nodes, positions=kept_positions))
        out[name] = tuple(shared)
    return out


def default_processes() -> int:
    """Processes for the worker's computation: ``FIGURES_PROCESSES`` or the CPUs (at most 4:
    the figures are seven parts, of which a few take most of the time)."""
    configured = int(getattr(settings, "FIGURES_PROCESSES", 0) or 0)
    if configured > 0:
        return configured
    return max(1, min(4, os.cpu_count() or 1))
