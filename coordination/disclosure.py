"""Statistical disclosure control for the management figures: no table may reveal a child.

Pure Python, no Django, no database: the summaries feed counts in, the pages read back which
cells they may show.

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
is used is checked corner by corner. ``tests/coordination/test_disclosure.py`` verifies the
guarantee exhaustively on hand-made and random tables. The search skips the boxes that a few
of their corners already rule out (too costly to beat the best so far, or impossible); that
decides how fast it is, never which box it chooses.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from operator import getitem
from typing import Any, Final

TOTAL: Final = "__total__"
SYMBOL: Final = "•"
MIN_THRESHOLD: Final = 3

Node = Hashable
Cell = tuple[int, ...]  # internal: one node position per dimension
Move = tuple[tuple[int, int], ...]  # (node position, +1 / -1) along one dimension
Change = tuple[tuple[int, ...], tuple[int, ...]]  # a Move split: its positions, its signs

# How many cheapest elementary changes per dimension the box search combines before it falls
# back to the always-possible box of the cell and its totals.
_CANDIDATES_PER_DIMENSION = 6
_PRESELECT = 6
# Hiding a total costs this much more per total coordinate than hiding a detail cell.
_TOTAL_WEIGHT = 4
# Boxes the partner-by-partner search tries for one hard cell.
_GUIDED_TRIES = 3000
# Boxes compared after the first one is found, before the cheapest so far is taken.
_SEARCH_AFTER_FIRST = 300
# Dimensions up to this many categories also offer their never-published zero cells.
_SMALL_DIMENSION = 40

_NO_LEAVES: Final[frozenset[int]] = frozenset()
# A box cannot be applied upwards (a corner with sign +1 at its floor) / downwards.
_UP_BLOCKED: Final = 1
_DOWN_BLOCKED: Final = 2
_BLOCKED: Final = _UP_BLOCKED | _DOWN_BLOCKED


def _floor(published: bool) -> int:
    """What the reader knows a hidden cell holds at least: 1 if published (zeros are always
    shown), 0 if never published."""
    return 1 if published else 0


def _line(cell: Cell, k: int) -> tuple[int, Cell]:
    """The line through a cell along dimension k (the cell with that coordinate left open)."""
    return k, (*cell[:k], -1, *cell[k + 1 :])


def _split(move: Move) -> Change:
    """A move as its positions and its signs (``_evaluate_split`` takes them apart)."""
    return tuple(p for p, _s in move), tuple(s for _p, s in move)


@functools.lru_cache(maxsize=4096)
def _shell(sizes: tuple[int, ...], budget: int) -> tuple[tuple[int, ...], ...]:
    """The rank combinations the search tries at one budget: every combination of ranks below
    ``budget`` (and below each dimension's number of options) whose highest rank is
    ``budget - 1``, in ``itertools.product`` order. The same few shapes come up for every
    cell, so they are worked out once."""
    ranges = [range(min(budget, size)) for size in sizes]
    return tuple(r for r in itertools.product(*ranges) if max(r) == budget - 1)


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

    def compact(self) -> None:
        """Drop what the box search memoised (see ``Cube.compact``)."""
        self._outside = {}
        self._differences = {}
        self._chains = {}

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


class _Faces:
    """The corners of a search's boxes that differ from the cell in two dimensions, looked at
    once per search instead of once per box.

    Every box of a search has the cell as a corner, and each of its changes holds the cell's
    own position (with +1). So the corners that differ from the cell in dimensions i and j
    only are fixed by the changes along i and j alone, and many boxes share them. Are they
    already impossible (a published zero, or corners at their floor that go down and up) or
    as costly as the limit, the whole box is, and ``_evaluate_split`` need not look at it.
    Most boxes a search compares end there.
    """

    def __init__(
        self,
        cube: Cube,
        cell: Cell,
        forced: bool,
        positions: Sequence[Sequence[tuple[int, ...]]],
        signs: Sequence[Sequence[tuple[int, ...]]],
    ) -> None:
        self.cube = cube
        self.cell = cell
        self.positions = positions
        self.signs = signs
        # The cell itself: at its floor, it cannot go down (its sign is +1).
        self.flags = _UP_BLOCKED if forced else 0
        self.pairs = [(i, j) for j in range(len(cell)) for i in range(j)]
        self.known: dict[tuple[int, int, int, int], tuple[int, int]] = {}

    def _face(self, i: int, a: int, j: int, b: int) -> tuple[int, int]:
        """What the corners off the cell along both i (change a) and j (change b) cost, and
        which way they keep the box from going (``_UP_BLOCKED``, ``_DOWN_BLOCKED``, both if
        one is a published zero)."""
        cube, cell = self.cube, self.cell
        known, suppressed = cube._corners, cube._suppressed
        head, middle, tail = cell[:i], cell[i + 1 : j], cell[j + 1 :]
        cost = flags = 0
        for p, sign_p in zip(self.positions[i][a], self.signs[i][a], strict=True):
            if p == cell[i]:
                continue
            for q, sign_q in zip(self.positions[j][b], self.signs[j][b], strict=True):
                if q == cell[j]:
                    continue
                corner = (*head, p, *middle, q, *tail)
                weight, at_floor = known.get(corner) or cube._corner(corner)
                if weight == 0:
                    return 0, _BLOCKED
                if at_floor:
                    flags |= _UP_BLOCKED if sign_p == sign_q else _DOWN_BLOCKED
                if weight > 0 and corner not in suppressed:
                    cost += weight
        return cost, flags

    def hopeless(self, ranks: Sequence[int], cost: int, limit: float) -> bool:
        """Whether the box of these changes is impossible or costs >= limit (> 0), judged by
        its corners off the cell in two dimensions; ``cost`` is what its other corners are
        known to cost at least."""
        flags = self.flags
        known = self.known
        for i, j in self.pairs:
            key = (i, ranks[i], j, ranks[j])
            face = known.get(key)
            if face is None:
                face = known[key] = self._face(*key)
            cost += face[0]
            flags |= face[1]
            if flags == _BLOCKED or cost >= limit:
                return True
        return False


class UnpublishedCell(LookupError):
    """A page asked for a cell its cube never publishes (a bug in the page, not the data)."""


class Cube:
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
        # Set by ``compact``: the cells are then numbers (``_pack``), the cube read-only.
        self._radix: tuple[int, ...] | None = None
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
        return cell if self._radix is None else self._pack(cell)

    def _pack(self, cell: Cell) -> Any:
        """A cell as one number (mixed radix): a compacted cube keys its cells so, which
        makes it several times faster to load from the cache than tuples."""
        number = 0
        for position, size in zip(cell, self._radix or (), strict=True):
            number = number * size + position
        return number

    def _unpack(self, cell: Any) -> Cell:
        if self._radix is None:
            return cell  # type: ignore[no-any-return]
        positions = []
        for size in reversed(self._radix):
            cell, position = divmod(cell, size)
            positions.append(position)
        return tuple(reversed(positions))

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
        cell = self._cell(index)
        if self._radix is not None and not self._is_published(cell):
            raise UnpublishedCell(f"{self.name}: {tuple(index)!r} was dropped by compact()")
        return self._cells.get(cell, 0)

    def is_suppressed(self, index: Sequence[Node]) -> bool:
        return self._cell(index) in self._suppressed

    def is_primary(self, index: Sequence[Node]) -> bool:
        return self._cell(index) in self._primary

    def look(self, index: Sequence[Node]) -> tuple[bool, int | None]:
        """``(is_published, shown)`` in one lookup, for pages that read thousands of cells:
        ``shown`` is the count to publish or None when hidden (or not published)."""
        cell = self._cell(index)
        value = self._cells.get(cell)
        # A compacted cube holds published cells only: no need to ask the rule for those.
        if (value is None or self._radix is None) and not self._is_published(cell):
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
        for dim, position in zip(self.dims, self._unpack(cell), strict=True):
            parts.update(dim._key_parts[position])
        return frozenset(parts)

    def _index(self, cell: Cell) -> tuple[Node, ...]:
        positions = self._unpack(cell)
        return tuple(dim.nodes[p] for dim, p in zip(self.dims, positions, strict=True))

    def published_cells(self) -> set[tuple[Node, ...]]:
        """Every published non-zero cell (zeros are published unless the rule says no)."""
        return {self._index(c) for c in self._cells if self._is_published(c)}

    def suppressed_cells(self) -> set[tuple[Node, ...]]:
        return {self._index(c) for c in self._suppressed}

    def primary_cells(self) -> set[tuple[Node, ...]]:
        return {self._index(c) for c in self._primary}

    def cells(self) -> dict[tuple[Node, ...], int]:
        """Every non-zero cell with its true value (for tests and audits; once compacted,
        the published ones)."""
        return {self._index(c): v for c, v in self._cells.items()}

    # --- protecting -------------------------------------------------------------------

    def _note_hidden(self, cell: Cell) -> None:
        for k, dim in enumerate(self.dims):
            if dim._is_leaf[cell[k]]:
                line = _line(cell, k)
                self._fiber_hidden[line].add(cell[k])
                bisect.insort(self._fiber_hidden_sorted[line], cell[k])

    def _hide(self, cells: Iterable[Cell]) -> bool:
        changed = False
        for cell in cells:
            if cell not in self._suppressed:
                self._suppressed.add(cell)
                self._note_hidden(cell)
                changed = True
        return changed

    def _fiber(self, k: int, cell: Cell) -> list[int]:
        """The leaves of dimension k with a non-zero cell on the line through ``cell``,
        smallest count first."""
        key = _line(cell, k)
        fiber = self._fibers.get(key)
        if fiber is None:
            if self._lines is None:
                # Every line's leaves with their counts, at once; each line is put in order
                # when first asked for (the search asks for a fraction of them).
                lines: dict[tuple[int, Cell], list[tuple[int, int]]] = defaultdict(list)
                for j, dim in enumerate(self.dims):
                    leaf = dim._is_leaf
                    for c, v in self._cells.items():
                        if leaf[c[j]]:
                            lines[j, (*c[:j], -1, *c[j + 1 :])].append((v, c[j]))
                self._lines = dict(lines)
            fiber = self._fibers[key] = [p for _v, p in sorted(self._lines.get(key, ()))]
        return fiber

    @staticmethod
    def _replace(cell: Cell, k: int, position: int) -> Cell:
        return (*cell[:k], position, *cell[k + 1 :])

    def _pick(
        self,
        k: int,
        cell: Cell,
        wanted: frozenset[int],
        inside: bool,
        width: int = 1,
        going_down: bool = False,
    ) -> Iterator[int]:
        """A few cheap leaves of a line, in or outside ``wanted``: hidden ones (free) first,
        then the smallest counts. ``going_down``: only leaves that can give one away. One at
        a time: the search often needs only the first (see ``_moves``)."""

        def fits(p: int) -> bool:
            if (p in wanted) != inside:
                return False
            return not going_down or not self._corner(self._replace(cell, k, p))[1]

        key = _line(cell, k)
        hidden = self._fiber_hidden.get(key, _NO_LEAVES)
        # The first hidden leaves that fit, in order: a line of a large dimension holds many
        # hidden leaves, and only the first few are wanted.
        chosen = 0
        for p in self._fiber_hidden_sorted.get(key, ()):
            if chosen >= _PRESELECT * width:
                break
            if fits(p):
                chosen += 1
                yield p
        # The smallest counts are the ones hidden first: skip the run of hidden leaves at the
        # start of the line (it only grows) without looking at it again.
        line = self._fiber(k, cell)
        start = self._fiber_skip.get(key, 0)
        while start < len(line) and line[start] in hidden:
            start += 1
        self._fiber_skip[key] = start
        for p in itertools.islice(line, start, None):
            if chosen >= 2 * _PRESELECT * width:
                break
            if p not in hidden and fits(p):
                chosen += 1
                yield p

    def _partners(self, k: int, cell: Cell, forced: bool, width: int) -> Iterator[int]:
        """The leaves outside the cell's node along k that a change may go down at, cheapest
        first (``_pick``, then ``_free_leaves``), one at a time."""
        taken: list[int] = []
        for p in self._pick(k, cell, self.dims[k]._under[cell[k]], False, width, forced):
            taken.append(p)
            yield p
        yield from self._free_leaves(k, cell, False, taken, width)

    def _free_leaves(
        self, k: int, cell: Cell, inside: bool, taken: list[int], width: int = 1
    ) -> list[int]:
        """Zero leaves (under the cell's node along k, or ``inside=False`` outside it) whose
        cells are never published: free corners that may go up (small dimensions only, unless
        the search is widened)."""
        dim = self.dims[k]
        if len(dim.leaves) > _SMALL_DIMENSION * width * width:
            return []
        among = dim._under[cell[k]] if inside else dim._leaves_outside(cell[k])
        head, tail = cell[:k], cell[k + 1 :]
        # Zero and never published: no cost, and at its floor of 0.
        free = [
            p for p in among if p not in taken and self._corner((*head, p, *tail)) == (-1, True)
        ]
        # Close relatives first (a change between siblings leaves their subtotal alone), then
        # categories with many counts elsewhere: the likeliest partners for a box.
        roots = tuple(0 if d.additive else c for d, c in zip(self.dims, cell, strict=True))
        mine = set(dim.ancestors_or_self(cell[k]))
        free.sort(
            key=lambda p: (
                -len(mine.intersection(dim.ancestors_or_self(p))),
                -self._cells.get(self._replace(roots, k, p), 0),
                p,
            )
        )
        return free[: _PRESELECT * width]

    def _moves(
        self, k: int, cell: Cell, forced: bool, width: int = 1, first: bool = False
    ) -> list[tuple[int, tuple[int, ...], tuple[int, ...]]]:
        """The cheapest elementary changes along dimension k that keep every subtotal (split
        into positions and signs), each with the cost of hiding its own corners: the box's
        corners that differ from the cell along k only. Every box made with the change has
        them, so their cost is a lower bound for the box's.

        With ``first``, only the cheapest is certain: most searches end with the first box,
        and the first change of a kind no other can beat (free, without empty corners, two
        positions) is the cheapest without looking at the others. The list then holds just
        it; otherwise it is the whole list.
        """
        dim = self.dims[k]
        node = cell[k]
        if not dim.additive:
            return [(0, (node,), (1,))]
        candidates: Iterable[Change]
        if dim._is_leaf[node]:
            candidates = itertools.chain(
                [dim._chain(node)],
                (dim._difference(node, b) for b in self._partners(k, cell, forced, width)),
            )
        else:
            under = dim._under[node]
            inside = list(
                itertools.islice(self._pick(k, cell, under, True, width), _PRESELECT * width)
            )
            inside += self._free_leaves(k, cell, True, inside, width)
            outside = [] if node == 0 else list(self._partners(k, cell, forced, width))
            candidates = [dim._chain(a) for a in inside]
            candidates += [dim._difference(a, b) for a in inside for b in outside]
        # Per corner position: its cost, whether it is a published zero, whether it is at its
        # floor, whether it is empty. The same few positions recur in many candidates.
        edges: dict[int, tuple[int, bool, bool, bool]] = {}
        head, tail = cell[:k], cell[k + 1 :]
        ranked: list[tuple[int, int, int, int, tuple[int, ...], tuple[int, ...]]] = []
        for order, (positions, signs) in enumerate(candidates):
            cost = zeros = 0
            for position, sign in zip(positions, signs, strict=True):
                if position == node:
                    continue
                known = edges.get(position)
                if known is None:
                    edge = (*head, position, *tail)
                    weight, at_floor = self._corners.get(edge) or self._corner(edge)
                    known = edges[position] = (
                        weight if weight > 0 and edge not in self._suppressed else 0,
                        weight == 0,
                        at_floor,
                        weight == 0 or (weight < 0 and at_floor),
                    )
                edge_cost, published_zero, at_floor, empty = known
                # A published zero cannot be hidden; when the cell itself cannot go down, the
                # box cannot turn around, so a corner that goes down must stay above its floor.
                if published_zero or (sign < 0 and forced and at_floor):
                    break
                cost += edge_cost
                zeros += empty
            else:
                if first and cost == zeros == 0 and len(positions) == 2:
                    return [(0, positions, signs)]
                # Cheapest first; among equals, those without empty corners (an empty corner
                # can only go up, which often makes the box impossible). ``order`` is unique:
                # the changes themselves are never compared.
                ranked.append((cost, zeros, len(positions), order, positions, signs))
        ranked.sort()
        return [(r[0], r[4], r[5]) for r in ranked[: _CANDIDATES_PER_DIMENSION + 4 * (width - 1)]]

    def _detail_under(self, cell: Cell) -> Cell:
        """A non-zero detail cell (all leaves) that adds up into ``cell``."""
        current = cell
        for k, dim in enumerate(self.dims):
            if dim._is_leaf[current[k]]:
                continue
            under = dim._under[current[k]]
            leaf = next(p for p in self._fiber(k, current) if p in under)
            current = self._replace(current, k, leaf)
        return current

    def _fallback(self, cell: Cell) -> tuple[Move, ...]:
        """The box that always exists: a non-zero detail cell under ``cell`` with every total
        above it (all corners go up, so no corner can fall below 1)."""
        return tuple(
            dim._chain_move(p) if dim.additive else ((p, 1),)
            for dim, p in zip(self.dims, self._detail_under(cell), strict=True)
        )

    def _near_fallbacks(self, cell: Cell) -> list[tuple[Move, ...]]:
        """Boxes like the fallback, but in one dimension a change towards the category with
        the most counts instead of up to the total (keeps that dimension's totals shown)."""
        detail = self._detail_under(cell)
        chains = self._fallback(cell)
        boxes = []
        for k, dim in enumerate(self.dims):
            if not dim.additive or cell[k] == 0:
                continue
            under = dim._under[cell[k]]
            partners = [p for p in reversed(self._fiber(k, detail)) if p not in under]
            for partner in partners[:_PRESELECT]:
                move = dim._difference_move(detail[k], partner)
                boxes.append((*chains[:k], move, *chains[k + 1 :]))
        return boxes

    def _cost(self, cell: Cell, value: int) -> int:
        """What hiding a cell costs: its count, more for totals (hide detail before totals)."""
        return value * (1 + _TOTAL_WEIGHT * cell.count(0))

    def _edge_cost(self, cell: Cell, k: int, positions: Iterable[int]) -> int:
        """What hiding the corners of a box that differ from ``cell`` along k only costs (as
        ``_evaluate`` counts them: published and not hidden yet)."""
        cost = 0
        for position in positions:
            if position == cell[k]:
                continue
            edge = self._replace(cell, k, position)
            weight, _at_floor = self._corner(edge)
            if weight > 0 and edge not in self._suppressed:
                cost += weight
        return cost

    def _evaluate(
        self, moves: Sequence[Move], limit: float
    ) -> tuple[int, list[Cell], list[Cell]] | None:
        """The cost of a box, its published corners (to hide) and all its corners, or None if
        it is impossible or costs >= limit."""
        changes = [_split(move) for move in moves]
        return self._evaluate_split([c[0] for c in changes], [c[1] for c in changes], limit)

    def _corner(self, cell: Cell) -> tuple[int, bool]:
        """What a box needs to know of a corner: the cost of hiding it (0 for a published
        zero, which cannot be hidden; -1 if it is never published) and whether it is at its
        floor (it cannot go down)."""
        known = self._corners.get(cell)
        if known is None:
            v = self._cells.get(cell, 0)
            public = self._is_published(cell)
            known = self._corners[cell] = (
                self._cost(cell, v) if public else -1,
                v <= _floor(public),
            )
        return known

    def _evaluate_split(
        self, positions: Sequence[Sequence[int]], signs: Sequence[Sequence[int]], limit: float
    ) -> tuple[int, list[Cell], list[Cell]] | None:
        """``_evaluate`` for moves split into their positions and their signs (the search
        splits each of its options once, not for every box it is part of).

        The search spends most of its time here, and most boxes it looks at turn out
        impossible or too costly: the corners are first only checked (one lookup each), and
        listed only for a box that passes.
        """
        cost = 0
        down_ok = up_ok = True
        known = self._corners
        suppressed = self._suppressed
        for corner, corner_signs in zip(
            itertools.product(*positions), itertools.product(*signs), strict=True
        ):
            entry = known.get(corner)
            weight, at_floor = self._corner(corner) if entry is None else entry
            if weight == 0:
                return None
            if at_floor:
                if math.prod(corner_signs) < 0:
                    down_ok = False
                else:
                    up_ok = False
                if not (down_ok or up_ok):
                    return None
            if weight > 0 and corner not in suppressed:
                cost += weight
                if cost >= limit:
                    return None
        every = list(itertools.product(*positions))
        return cost, [c for c in every if self._corners[c][0] > 0], every

    def _search(self, cell: Cell, width: int) -> tuple[int, list[Cell], list[Cell]] | None:
        """The cheapest box among the best-ranked changes per dimension, or None.

        Widens the search one rank at a time; once a box is found it keeps looking (a corner
        shared by two dimensions can make a later pair cheaper) for a while: until more than
        ``_SEARCH_AFTER_FIRST`` boxes have been compared with it, counted a budget at a time.

        Which boxes it compares, and in which order, decides the box; it compares them without
        looking at every corner of every box (this is where protecting a large table spends
        its time):

        - the first box needs only the cheapest change per dimension (``_moves`` with
          ``first``), and most often costs nothing, which ends the search;
        - each change's cost (its corners next to the cell) is a lower bound for every box
          made with it, and the changes come cheapest first: a box whose changes alone cost
          as much as the best so far cannot be cheaper, and ranks too costly in one dimension
          are not even listed;
        - ``_Faces`` rules out most of the others by their corners off the cell in two
          dimensions.

        A box left out so is counted as compared: ``_evaluate`` would have rejected it.
        """
        forced = self._cells[cell] <= _floor(self._is_published(cell))
        dims = range(len(self.dims))
        # The first box (the cheapest change in every dimension) often costs nothing: it needs
        # only the cheapest changes, the others are listed when it does not.
        options = [self._moves(k, cell, forced, width, first=True) for k in dims]
        if not all(options):
            return None
        positions = [[p for _c, p, _s in o] for o in options]
        signs = [[s for _c, _p, s in o] for o in options]
        best = self._evaluate_split([p[0] for p in positions], [s[0] for s in signs], math.inf)
        if best is not None and best[0] == 0:
            return best
        for k in dims:
            if len(options[k]) == 1 and self.dims[k].additive:
                # Maybe only the cheapest: list them all (the cheapest stays the first).
                options[k] = self._moves(k, cell, forced, width)
                positions[k][:] = [p for _c, p, _s in options[k]]
                signs[k][:] = [s for _c, _p, s in options[k]]
        costs = [[c for c, _p, _s in o] for o in options]
        sizes = tuple(map(len, costs))
        faces = _Faces(self, cell, forced, positions, signs)
        evaluated = 0
        for budget in range(2, max(sizes) + 1):
            if best is not None and evaluated > _SEARCH_AFTER_FIRST:
                break
            shell = _shell(sizes, budget)
            if best is None:
                remaining = iter(shell)
                for ranks in remaining:
                    if faces.hopeless(ranks, 0, math.inf):
                        continue
                    best = self._evaluate_split(
                        list(map(getitem, positions, ranks)),
                        list(map(getitem, signs, ranks)),
                        math.inf,
                    )
                    if best is not None:
                        break
                if best is None:
                    continue
                if best[0] == 0:
                    return best
                rest: Sequence[tuple[int, ...]] = list(remaining)
                evaluated += len(rest)
            else:
                evaluated += len(shell)
                # Ranks whose change alone, with the cheapest in every other dimension, costs
                # as much as the best box so far are left out (the changes are cheapest first).
                cheapest = sum(c[0] for c in costs)
                caps = tuple(
                    min(size, bisect.bisect_left(c, best[0] - cheapest + c[0]))
                    for c, size in zip(costs, sizes, strict=True)
                )
                rest = _shell(caps, budget)
            for ranks in rest:
                bound = sum(map(getitem, costs, ranks))
                if bound >= best[0] or faces.hopeless(ranks, bound, best[0]):
                    continue
                found = self._evaluate_split(
                    list(map(getitem, positions, ranks)),
                    list(map(getitem, signs, ranks)),
                    best[0],
                )
                if found is not None:
                    best = found
                    if best[0] == 0:
                        return best
        return best

    def _guided(
        self, cell: Cell, best: tuple[int, list[Cell], list[Cell]] | None = None, tries: int = 0
    ) -> tuple[int, list[Cell], list[Cell]] | None:
        """Fix the best changes in all dimensions but one and try every partner category in
        that one (a partner must fit all the others at once, which ranking each dimension
        alone misses). As in ``_search``, a box whose changes alone, or whose corners off the
        cell in two dimensions, rule it out is counted as tried without looking further."""
        forced = self._cells[cell] <= _floor(self._is_published(cell))
        options = [self._moves(k, cell, forced)[:3] for k in range(len(self.dims))]
        detail = self._detail_under(cell)
        tried = 0
        limit = tries or _GUIDED_TRIES
        for k, dim in enumerate(self.dims):
            if not dim.additive or cell[k] == 0:
                continue
            under = dim._under[cell[k]]
            partners = [p for p in reversed(self._fiber(k, detail)) if p not in under]
            # The change towards each partner, made when first tried, as the k-th option.
            costs = [[c for c, _p, _s in o] if j != k else [] for j, o in enumerate(options)]
            positions = [[p for _c, p, _s in o] if j != k else [] for j, o in enumerate(options)]
            signs = [[s for _c, _p, s in o] if j != k else [] for j, o in enumerate(options)]
            faces = _Faces(self, cell, forced, positions, signs)
            ranges = [range(len(c)) if j != k else [-1] for j, c in enumerate(costs)]
            for combo in itertools.product(*ranges):
                ranks = list(combo)
                fixed = sum(costs[j][r] for j, r in enumerate(ranks) if j != k)
                for number, partner in enumerate(partners):
                    if number == len(costs[k]):
                        change = dim._difference(detail[k], partner)
                        costs[k].append(self._edge_cost(cell, k, change[0]))
                        positions[k].append(change[0])
                        signs[k].append(change[1])
                    ranks[k] = number
                    bound = fixed + costs[k][number]
                    cap = best[0] if best else math.inf
                    if bound >= cap or faces.hopeless(ranks, bound, cap):
                        found = None
                    else:
                        found = self._evaluate_split(
                            list(map(getitem, positions, ranks)),
                            list(map(getitem, signs, ranks)),
                            cap,
                        )
                    tried += 1
                    if found is not None:
                        best = found
                        if best[0] == 0:
                            return best
                    if tried > limit:
                        return best
        return best

    def _best_box(self, cell: Cell) -> tuple[list[Cell], list[Cell]]:
        """The published corners to hide and all corners of the box chosen for a cell."""
        best = self._search(cell, 1)
        if best is None:
            # Rare: look further before the costly box of the cell and its totals.
            best = self._search(cell, 3)
        if best is None:
            best = self._guided(cell)
        elif best[0] > 0 and not self._is_published(cell):
            # A cell that is never shown can nearly always be covered by cells that are never
            # shown either: look a little harder before hiding published ones for it.
            best = self._guided(cell, best, _GUIDED_TRIES // 10)
        for box in [] if best is not None else self._near_fallbacks(cell):
            found = self._evaluate(box, best[0] if best else math.inf)
            if found is not None:
                best = found
        if best is None:
            best = self._evaluate(self._fallback(cell), math.inf)
            if best is None:  # pragma: no cover - the fallback box always works
                raise AssertionError(f"{self.name}: no box for a hidden cell")
        return best[1], best[2]

    def compact(self) -> None:
        """Keep only what pages read, once protected: the published cells (as numbers, see
        ``_pack``) and which of them are hidden. Dropped: the cells no page may show, the
        search indexes (the cube's and its dimensions', shared by the cubes of a page) and
        the flags the protection kept; the published rule is asked again for the few cells
        a page reads. A page loads the cubes from the cache each time the figures are new:
        this makes them a sixth of the size and loads them several times faster.

        The published cells read as before; asking the value of an unpublished one raises
        ``UnpublishedCell``. A compacted cube can no longer be protected."""
        if self._radix is not None:
            return
        for dim in self.dims:
            dim.compact()
        cells = {c: v for c, v in self._cells.items() if self._is_published(c)}
        suppressed = [c for c in self._suppressed if self._is_published(c)]
        self._radix = tuple(len(dim.nodes) for dim in self.dims)
        pack = self._pack
        self._cells = {pack(c): v for c, v in cells.items()}
        self._suppressed = {pack(c) for c in suppressed}
        self._primary = frozenset(pack(c) for c in self._primary)
        self._published = {}
        self._sensitive = frozenset()
        self._protected = set()
        self._lines = None
        self._fibers = {}
        self._corners = {}
        self._fiber_skip = {}
        self._fiber_hidden = defaultdict(set)
        self._fiber_hidden_sorted = defaultdict(list)

    def _protect_pending(self) -> bool:
        """Cover every hidden, not yet covered cell with a box; True if anything changed."""
        changed = False
        # Published cells first: their boxes often cover the small cells that are never
        # published, which then need no box of their own.
        pending = sorted(
            (self._suppressed | self._sensitive) - self._protected,
            key=lambda c: (not self._is_published(c), self._cells[c], c),
        )
        for cell in pending:
            if cell in self._protected:
                continue
            hidden, corners = self._best_box(cell)
            self._hide(hidden)
            self._protected.update(corners)
            changed = True
        return changed


def protect(cubes: Sequence[Cube] | Cube) -> None:
    """Apply primary and secondary suppression to one cube or to linked cubes, in place."""
    group = [cubes] if isinstance(cubes, Cube) else list(cubes)
    if any(cube._radix is not None for cube in group):
        raise ValueError("a compacted cube is read-only: protect it before compact()")
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
