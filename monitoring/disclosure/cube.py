"""Statistical disclosure control, the cube: dimensions, counts, what a page may read.

Pure Python, no Django, no database (the whole ``monitoring.disclosure`` package): the
queries feed counts in, ``protect`` hides cells (``search.py`` finds the boxes), ``publish``
turns a protected cube into the immutable table the pages read (``protect.py``).

The model
---------
A ``Cube`` is a frequency table over one or more ``Dimension``s. A dimension is a tree: the
leaves are the categories (a district, a grade), inner nodes are subtotals (a target type over
its grades), the root ``TOTAL`` is the total. A dimension can also be *non-additive* (the month
of a stock figure such as "waiting at the end of the month"): its categories are separate
tables with no total across them. The cube holds a cell for every combination of nodes, so
every row, column, subtotal and total of every table drawn from it is one of its cells, and all
of them are protected together. Pages show *projections* of protected cubes; filters select
rows and columns of the same protected cube and never recompute it, so two filtered views can
not be subtracted from each other to reveal a hidden cell.

A cube may *publish* only some of its cells (``published=``): e.g. single districts only by
target type, single grades only for the whole city. A page can never show the others
(``shown`` refuses them).

What the reader is assumed to know
----------------------------------
Every published cell; that every total and subtotal is the sum of its parts, along every
dimension and at every level; that zeros are always published, so a hidden cell holds at least
1; and that a cell that is never published holds at least 0.

The rules
---------
1. Primary suppression: a published count ``0 < n < threshold`` is hidden (default threshold
   3; 5 for breakdowns by origin, language or residence status; never below 3). True zeros
   are shown.
2. Secondary suppression: every hidden cell, and every small cell that is never published (it
   could still be worked out: "12 months" minus "6 months" is "months 1 to 6"), lies on a *box*.
   A box takes, in every dimension, an elementary change that keeps all the dimension's
   subtotals (``+1`` on one category and ``-1`` on another, or ``+1`` on a category and its
   totals); the product of these changes adds ``+1``/``-1`` to the box's corners and leaves
   every other cell as it is. If every published corner is hidden and no corner would fall
   below what the reader knows it holds, the table with the box applied is as consistent with
   everything published as the true one, and it differs in the cell: the cell has at least two
   possible values. For a plain table with row and column totals the box is the classic
   rectangle, and choosing the cheapest box (the smallest sum of newly hidden counts, totals
   costing more than detail) is "hide the next-smallest cell in the same row and column";
   the search goes on until every such cell is covered (hypercube method, as in tau-argus'
   GHMITER). A box always exists: the cell with all its totals up to the grand total.
3. Linked cubes (``protect`` with several cubes): cells that describe the same quantity (equal
   ``Cube.key``) are hidden in every cube as soon as they are hidden in one, and each cube then
   covers them with a box of its own, until nothing changes. This is exact when one cube's cells
   are a subset of the other's relations (as the figures page uses it); for arbitrary linked
   tables it is the usual consistent-suppression heuristic.
4. Statistics (median, percentiles) over fewer children than the threshold are not shown, nor
   when the count of their population is hidden (showing it would tell that count is >= 3).

The search for a box is a heuristic (cheapest few changes per dimension, then partner by
partner, then the always-possible box); the *guarantee* does not depend on it: every box that
is used is checked corner by corner. ``tests/monitoring/test_disclosure.py`` verifies the
guarantee exhaustively on hand-made and random tables. The search skips the boxes that a few
of their corners already rule out (too costly to beat the best so far, or impossible); that
decides how fast it is, never which box it chooses.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Final

from monitoring.disclosure.search import BoxSearch, Cell, Change, Move, Node, _split

TOTAL: Final = "__total__"
SYMBOL: Final = "•"
MIN_THRESHOLD: Final = 3


def effective_threshold(configured: int | None, *, default: int = MIN_THRESHOLD) -> int:
    """The threshold to apply: the configured value, never below 3."""
    value = default if configured is None else int(configured)
    return max(MIN_THRESHOLD, value)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Continuous percentile (linear interpolation), as PostgreSQL's ``percentile_cont``."""
    if not values:
        return None
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be between 0 and 1")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def statistic_visible(*, population: int | None, threshold: int) -> bool:
    """A median or percentile is shown only over a published population of >= threshold.

    ``population`` is the published count of the children the statistic is about, or None
    when that count is hidden.
    """
    return population is not None and population >= effective_threshold(threshold)


class Dimension:
    """One dimension of a cube: a tree of categories under ``TOTAL`` (or separate tables).

    ``tree`` is either a sequence of leaves (a flat dimension with a total) or a mapping
    ``{parent: [children]}`` that starts at ``TOTAL``. With ``additive=False`` it is a sequence
    of categories with no total across them. ``key_names`` names the quantity a node stands for
    in ``Cube.key`` (default: ``(dimension name, node)``), so that cubes built along different
    dimensions can recognise the same quantity.
    """

    def __init__(
        self,
        name: str,
        tree: Mapping[Node, Sequence[Node]] | Sequence[Node],
        *,
        additive: bool = True,
        key_names: Mapping[Node, tuple[str, Hashable]] | None = None,
    ) -> None:
        self.name = name
        self.additive = additive
        if isinstance(tree, Mapping):
            if not additive:
                raise ValueError("a non-additive dimension is a plain sequence of categories")
            children = {parent: list(kids) for parent, kids in tree.items()}
        else:
            children = {TOTAL: list(tree)} if additive else {}
            leaves_only = list(tree)
        nodes: list[Node] = []
        parent_of: list[int] = []
        if additive:
            if TOTAL not in children:
                raise ValueError(f"dimension {name!r}: the tree must start at TOTAL")

            def visit(node: Node, parent: int) -> None:
                if node in positions:
                    raise ValueError(f"dimension {name!r}: node {node!r} appears twice")
                positions[node] = len(nodes)
                nodes.append(node)
                parent_of.append(parent)
                me = positions[node]
                for child in children.get(node, ()):
                    visit(child, me)

            positions: dict[Node, int] = {}
            visit(TOTAL, -1)
            unknown = set(children) - set(positions)
            if unknown:
                raise ValueError(f"dimension {name!r}: parents not in the tree: {unknown!r}")
        else:
            positions = {}
            for node in leaves_only:
                if node in positions or node == TOTAL:
                    raise ValueError(f"dimension {name!r}: bad or repeated category {node!r}")
                positions[node] = len(nodes)
                nodes.append(node)
                parent_of.append(-1)
        if not nodes or (additive and len(nodes) == 1):
            raise ValueError(f"dimension {name!r} has no categories")
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self._pos = positions
        self._parent = parent_of
        kids: list[list[int]] = [[] for _ in nodes]
        for position, parent in enumerate(parent_of):
            if parent >= 0:
                kids[parent].append(position)
        self._is_leaf = [not k for k in kids]
        self.leaves: tuple[int, ...] = tuple(i for i, leaf in enumerate(self._is_leaf) if leaf)
        self._ancestors: list[tuple[int, ...]] = []
        for position in range(len(nodes)):
            chain = [position]
            while parent_of[chain[-1]] >= 0:
                chain.append(parent_of[chain[-1]])
            self._ancestors.append(tuple(chain))
        under: list[set[int]] = [set() for _ in nodes]
        for leaf in self.leaves:
            for ancestor in self._ancestors[leaf]:
                under[ancestor].add(leaf)
        self._under = [frozenset(u) for u in under]
        # Built on first use: the leaves outside a node, and the changes between two leaves
        # and up from a leaf (the search asks for the same ones over and over).
        self._outside: dict[int, frozenset[int]] = {}
        self._differences: dict[tuple[int, int], Change] = {}
        self._chains: dict[int, Change] = {}
        names = dict(key_names or {})
        self._key_parts: list[tuple[tuple[str, Hashable], ...]] = []
        for position in range(len(nodes)):
            parts = tuple(
                names.get(self.nodes[p], (name, self.nodes[p]))
                for p in self._ancestors[position]
                if self.nodes[p] != TOTAL
            )
            self._key_parts.append(parts)

    def __repr__(self) -> str:
        return f"Dimension({self.name!r}, {len(self.nodes)} nodes)"

    def position(self, node: Node) -> int:
        try:
            return self._pos[node]
        except KeyError:
            raise KeyError(f"{node!r} is not a category of dimension {self.name!r}") from None

    def is_leaf(self, node: Node) -> bool:
        return self._is_leaf[self.position(node)]

    def children(self, node: Node) -> list[Node]:
        """The direct children of a node, in the tree's order."""
        me = self.position(node)
        return [self.nodes[p] for p, parent in enumerate(self._parent) if parent == me]

    def ancestors_or_self(self, position: int) -> tuple[int, ...]:
        return self._ancestors[position]

    def _leaves_outside(self, node: int) -> frozenset[int]:
        """The leaves that do not add up into a node."""
        outside = self._outside.get(node)
        if outside is None:
            outside = self._outside[node] = frozenset(self.leaves) - self._under[node]
        return outside

    def _chain_move(self, leaf: int) -> Move:
        return tuple((p, 1) for p in self._ancestors[leaf])

    def _difference_move(self, plus: int, minus: int) -> Move:
        return tuple(zip(*self._difference(plus, minus), strict=True))

    def _chain(self, leaf: int) -> Change:
        """``_chain_move`` split into its positions and its signs (as the box search uses it)."""
        change = self._chains.get(leaf)
        if change is None:
            change = self._chains[leaf] = _split(self._chain_move(leaf))
        return change

    def _difference(self, plus: int, minus: int) -> Change:
        """``_difference_move`` split into its positions and its signs: +1 on ``plus`` and
        its totals, -1 on ``minus`` and its totals, leaving out the totals they share."""
        change = self._differences.get((plus, minus))
        if change is None:
            up, down = self._ancestors[plus], self._ancestors[minus]
            # In a tree the totals two nodes share are the ends of their chains up to TOTAL.
            shared = 0
            while shared < min(len(up), len(down)) and up[-shared - 1] == down[-shared - 1]:
                shared += 1
            ups, downs = up[: len(up) - shared], down[: len(down) - shared]
            change = (ups + downs, (1,) * len(ups) + (-1,) * len(downs))
            self._differences[(plus, minus)] = change
        return change


class UnpublishedCell(LookupError):
    """A page asked for a cell its cube never publishes (a bug in the page, not the data)."""


class Cube(BoxSearch):
    """A frequency table over dimensions, with every subtotal, ready to be protected.

    ``counts`` maps a tuple of leaf categories (one per dimension) to a count. ``name`` is the
    measure ("children waiting"); ``fixed`` adds coordinates shared by every cell (the date of
    a snapshot), both used by ``key``. ``published`` says which cells a page may ever show
    (default: all); the others stay unknown to the reader, need no hiding, and are free
    corners for the boxes (they can only be assumed to be at least 0). ``shown`` refuses them.
    """

    def __init__(
        self,
        name: str,
        dims: Sequence[Dimension],
        counts: Mapping[tuple[Node, ...], int],
        *,
        threshold: int = MIN_THRESHOLD,
        fixed: Mapping[str, Hashable] | None = None,
        published: Callable[[tuple[Node, ...]], bool] | None = None,
    ) -> None:
        if not dims:
            raise ValueError("a cube needs at least one dimension")
        self.name = name
        self.dims = tuple(dims)
        self.threshold = effective_threshold(threshold)
        self.fixed = tuple(sorted((fixed or {}).items()))
        cells: dict[Cell, int] = defaultdict(int)
        for index, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"{name}: counts must be whole numbers >= 0, got {count!r}")
            if not count:
                continue
            cell = self._cell(index)
            for k, dim in enumerate(self.dims):
                if not dim._is_leaf[cell[k]]:
                    raise ValueError(f"{name}: {index[k]!r} is a subtotal, not a category")
            for combo in itertools.product(
                *(dim.ancestors_or_self(p) for dim, p in zip(self.dims, cell, strict=True))
            ):
                cells[combo] += count
        self._cells: dict[Cell, int] = dict(cells)
        self._published_rule = published
        self._published: dict[Cell, bool] = {}
        # Small counts need a box whether published or not: a cell that is never shown can
        # still be worked out from shown ones (12 months minus 6 months, a district's total
        # minus its target types).
        self._sensitive = frozenset(c for c, v in self._cells.items() if v < self.threshold)
        self._primary = frozenset(c for c in self._sensitive if self._is_published(c))
        self._suppressed: set[Cell] = set(self._primary)
        self._protected: set[Cell] = set()
        self._lines: dict[tuple[int, Cell], list[tuple[int, int]]] | None = None
        self._fibers: dict[tuple[int, Cell], list[int]] = {}
        # What the box search needs to know of a corner, looked up once (see ``_corner``).
        self._corners: dict[Cell, tuple[int, bool]] = {}
        # How many leaves at the start of each line are hidden (see ``_pick``).
        self._fiber_skip: dict[tuple[int, Cell], int] = {}
        # The hidden leaves of each line, as a set (is this one hidden?) and in order (the
        # search takes the first few that fit; a line of a large dimension holds many).
        self._fiber_hidden: dict[tuple[int, Cell], set[int]] = defaultdict(set)
        self._fiber_hidden_sorted: dict[tuple[int, Cell], list[int]] = defaultdict(list)
        for cell in self._suppressed:
            self._note_hidden(cell)

    def __repr__(self) -> str:
        return f"Cube({self.name!r}, {len(self._cells)} cells, {len(self._suppressed)} hidden)"

    # --- reading ----------------------------------------------------------------------

    def _cell(self, index: Sequence[Node]) -> Cell:
        if len(index) != len(self.dims):
            raise ValueError(f"{self.name}: an index needs {len(self.dims)} categories")
        try:
            # Lengths checked above (strict=False: zip's check costs time on every cell).
            cell = tuple([dim._pos[node] for dim, node in zip(self.dims, index, strict=False)])
        except KeyError:
            cell = tuple(dim.position(n) for dim, n in zip(self.dims, index, strict=True))
        return cell

    def _is_published(self, cell: Cell) -> bool:
        known = self._published.get(cell)
        if known is None:
            if self._published_rule is None:
                return True
            known = self._published[cell] = bool(self._published_rule(self._index(cell)))
        return known

    @property
    def published_rule(self) -> Callable[[tuple[Node, ...]], bool] | None:
        return self._published_rule

    def is_published(self, index: Sequence[Node]) -> bool:
        """Whether a page may show this cell at all (as a number or as the symbol)."""
        return self._is_published(self._cell(index))

    def value(self, index: Sequence[Node]) -> int:
        """The true count (for totals computed from true values; never shown when hidden)."""
        return self._cells.get(self._cell(index), 0)

    def is_suppressed(self, index: Sequence[Node]) -> bool:
        return self._cell(index) in self._suppressed

    def is_primary(self, index: Sequence[Node]) -> bool:
        return self._cell(index) in self._primary

    def look(self, index: Sequence[Node]) -> tuple[bool, int | None]:
        """``(is_published, shown)`` in one lookup, for pages that read thousands of cells:
        ``shown`` is the count to publish or None when hidden (or not published)."""
        cell = self._cell(index)
        value = self._cells.get(cell)
        if not self._is_published(cell):
            return False, None
        if cell in self._suppressed:
            return True, None
        return True, value or 0

    def shown(self, index: Sequence[Node]) -> int | None:
        """The count to publish, or None when it must be shown as the symbol."""
        cell = self._cell(index)
        if not self._is_published(cell):
            raise UnpublishedCell(f"{self.name}: {tuple(index)!r} is never published")
        if cell in self._suppressed:
            return None
        return self._cells.get(cell, 0)

    def key(self, index: Sequence[Node]) -> frozenset[tuple[str, Hashable]]:
        """What quantity a cell is, independent of the cube it is in (for linking)."""
        return self._key(self._cell(index))

    def _key(self, cell: Cell) -> frozenset[tuple[str, Hashable]]:
        parts: set[tuple[str, Hashable]] = {("measure", self.name), *self.fixed}
        for dim, position in zip(self.dims, cell, strict=True):
            parts.update(dim._key_parts[position])
        return frozenset(parts)

    def _index(self, cell: Cell) -> tuple[Node, ...]:
        return tuple(dim.nodes[p] for dim, p in zip(self.dims, cell, strict=True))

    def published_cells(self) -> set[tuple[Node, ...]]:
        """Every published non-zero cell (zeros are published unless the rule says no)."""
        return {self._index(c) for c in self._cells if self._is_published(c)}

    def suppressed_cells(self) -> set[tuple[Node, ...]]:
        return {self._index(c) for c in self._suppressed}

    def primary_cells(self) -> set[tuple[Node, ...]]:
        return {self._index(c) for c in self._primary}

    def cells(self) -> dict[tuple[Node, ...], int]:
        """Every non-zero cell with its true value (for tests and audits)."""
        return {self._index(c): v for c, v in self._cells.items()}

    # --- protecting -------------------------------------------------------------------
