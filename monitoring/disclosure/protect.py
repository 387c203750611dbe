"""Statistical disclosure control: protecting cubes, and the tables that are published.

``protect`` hides cells in working cubes (primary and secondary suppression, linked cubes
alike); ``publish`` turns a protected cube into a ``PublishedTable``: a new, immutable value
holding only the cells a page may show (as numbers, see ``PublishedTable``), which is what
the figures cache and the pages read.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence

from monitoring.disclosure.cube import MIN_THRESHOLD, TOTAL, Cube, Dimension, UnpublishedCell
from monitoring.disclosure.search import Cell, Node


def protect(cubes: Sequence[Cube] | Cube) -> None:
    """Apply primary and secondary suppression to one cube or to linked cubes.

    The cubes are the working state of the protection (it may run on several candidate
    publications, see ``monitoring.publication.detail``); what a page reads is the
    ``publish``-ed table of the one chosen."""
    group = [cubes] if isinstance(cubes, Cube) else list(cubes)
    by_measure: dict[str, list[Cube]] = defaultdict(list)
    for cube in group:
        by_measure[cube.name].append(cube)
    links: list[list[tuple[Cube, Cell]]] = []
    for same in by_measure.values():
        if len(same) < 2:
            continue
        holders: dict[frozenset[tuple[str, Hashable]], list[tuple[Cube, Cell]]] = defaultdict(list)
        for cube in same:
            for cell in cube._cells:
                if cube._is_published(cell):
                    holders[cube._key(cell)].append((cube, cell))
        for key, members in holders.items():
            if len({id(c) for c, _cell in members}) < 2:
                continue
            if len({c._cells[cell] for c, cell in members}) != 1:
                raise ValueError(f"linked cells disagree on {sorted(key, key=str)!r}")
            links.append(members)
    while True:
        changed = False
        for cube in group:
            changed |= cube._protect_pending()
        for members in links:
            if any(cell in c._suppressed for c, cell in members):
                for c, cell in members:
                    changed |= c._hide([cell])
        if not changed:
            return


def protect_grid(
    values: Sequence[Sequence[int]], *, threshold: int = MIN_THRESHOLD
) -> list[list[int | None]]:
    """Protect a plain table with row and column totals (hand-made tables, examples).

    Returns the published grid with one more row and column for the totals; ``None`` marks a
    hidden cell.
    """
    rows, cols = len(values), len(values[0]) if values else 0
    row_dim = Dimension("row", list(range(rows)))
    col_dim = Dimension("column", list(range(cols)))
    cube = Cube(
        "grid",
        [row_dim, col_dim],
        {(r, c): values[r][c] for r in range(rows) for c in range(cols)},
        threshold=threshold,
    )
    protect(cube)
    out: list[list[int | None]] = []
    for r in [*range(rows), TOTAL]:
        out.append([cube.shown((r, c)) for c in [*range(cols), TOTAL]])
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class PublishedTable:
    """What a page may read of a protected cube: its published cells and which are hidden.

    A cell is one number (mixed radix over the dimensions' positions) instead of a tuple: a
    page loads the tables from the cache each time the figures are new, and numbers make them
    a sixth of the size and load several times faster. Cells that are never published are
    not kept (asking their value raises ``UnpublishedCell``); zeros are not stored and the
    published rule tells for those whether a page may show them.
    """

    name: str
    threshold: int
    dimensions: tuple[str, ...]
    positions: tuple[Mapping[Node, int], ...]  # per dimension: node -> position
    nodes: tuple[tuple[Node, ...], ...]  # per dimension: position -> node
    radix: tuple[int, ...]
    counts: Mapping[int, int]  # published non-zero cells -> true count
    hidden: frozenset[int]
    primary: frozenset[int]
    published_rule: Callable[[tuple[Node, ...]], bool] | None

    def _number(self, index: Sequence[Node]) -> int:
        if len(index) != len(self.radix):
            raise ValueError(f"{self.name}: an index needs {len(self.radix)} categories")
        number = 0
        for positions, size, node, name in zip(
            self.positions, self.radix, index, self.dimensions, strict=False
        ):
            try:
                number = number * size + positions[node]
            except KeyError:
                raise KeyError(f"{node!r} is not a category of dimension {name!r}") from None
        return number

    def _index(self, number: int) -> tuple[Node, ...]:
        found = []
        for nodes, size in zip(reversed(self.nodes), reversed(self.radix), strict=True):
            number, position = divmod(number, size)
            found.append(nodes[position])
        return tuple(reversed(found))

    def _published(self, number: int, index: Sequence[Node]) -> bool:
        if number in self.counts:
            return True
        return self.published_rule is None or bool(self.published_rule(tuple(index)))

    def is_published(self, index: Sequence[Node]) -> bool:
        """Whether a page may show this cell at all (as a number or as the symbol)."""
        return self._published(self._number(index), index)

    def look(self, index: Sequence[Node]) -> tuple[bool, int | None]:
        """``(is_published, shown)`` in one lookup, for pages that read thousands of cells:
        ``shown`` is the count to publish or None when hidden (or not published)."""
        number = self._number(index)
        value = self.counts.get(number)
        if value is None:
            if self.published_rule is not None and not self.published_rule(tuple(index)):
                return False, None
            return True, 0
        if number in self.hidden:
            return True, None
        return True, value

    def shown(self, index: Sequence[Node]) -> int | None:
        """The count to publish, or None when it must be shown as the symbol."""
        published, shown = self.look(index)
        if not published:
            raise UnpublishedCell(f"{self.name}: {tuple(index)!r} is never published")
        return shown

    def value(self, index: Sequence[Node]) -> int:
        """The true count (for totals computed from true values; never shown when hidden)."""
        number = self._number(index)
        if not self._published(number, index):
            raise UnpublishedCell(f"{self.name}: {tuple(index)!r} is never published")
        return self.counts.get(number, 0)

    def is_suppressed(self, index: Sequence[Node]) -> bool:
        return self._number(index) in self.hidden

    def is_primary(self, index: Sequence[Node]) -> bool:
        return self._number(index) in self.primary

    def cells(self) -> dict[tuple[Node, ...], int]:
        """Every published non-zero cell with its true value (for tests and audits)."""
        return {self._index(n): v for n, v in self.counts.items()}

    def published_cells(self) -> set[tuple[Node, ...]]:
        return set(self.cells())

    def suppressed_cells(self) -> set[tuple[Node, ...]]:
        return {self._index(n) for n in self.hidden}

    def primary_cells(self) -> set[tuple[Node, ...]]:
        return {self._index(n) for n in self.primary}


def publish(cube: Cube) -> PublishedTable:
    """The published cells of a protected cube, as a new immutable table (the cube is left
    as it is)."""
    radix = tuple(len(dim.nodes) for dim in cube.dims)

    def number(cell: Cell) -> int:
        packed = 0
        for position, size in zip(cell, radix, strict=True):
            packed = packed * size + position
        return packed

    published = cube._is_published
    return PublishedTable(
        name=cube.name,
        threshold=cube.threshold,
        dimensions=tuple(dim.name for dim in cube.dims),
        # The dimensions' own maps: shared by the tables of one computation, so pickled once.
        positions=tuple(dim._pos for dim in cube.dims),
        nodes=tuple(dim.nodes for dim in cube.dims),
        radix=radix,
        counts={number(c): v for c, v in cube._cells.items() if published(c)},
        hidden=frozenset(number(c) for c in cube._suppressed if published(c)),
        primary=frozenset(number(c) for c in cube._primary),
        published_rule=cube.published_rule,
    )
