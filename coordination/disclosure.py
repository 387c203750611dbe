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
guarantee exhaustively on hand-made and random tables.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Final

TOTAL: Final = "__total__"
SYMBOL: Final = "•"
MIN_THRESHOLD: Final = 3

Node = Hashable
Cell = tuple[int, ...]  # internal: one node position per dimension
Move = tuple[tuple[int, int], ...]  # (node position, +1 / -1) along one dimension

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


def _floor(published: bool) -> int:
    """What the reader knows a hidden cell holds at least: 1 if published (zeros are always
    shown), 0 if never published."""
    return 1 if published else 0


def _line(cell: Cell, k: int) -> tuple[int, Cell]:
    """The line through a cell along dimension k (the cell with that coordinate left open)."""
    return k, (*cell[:k], -1, *cell[k + 1 :])


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
        self._differences: dict[tuple[int, int], Move] = {}
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

    def _chain_move(self, leaf: int) -> Move:
        return tuple((p, 1) for p in self._ancestors[leaf])

    def _difference_move(self, plus: int, minus: int) -> Move:
        move = self._differences.get((plus, minus))
        if move is None:
            up, down = self._ancestors[plus], self._ancestors[minus]
            common = set(up) & set(down)
            move = tuple((p, 1) for p in up if p not in common) + tuple(
                (p, -1) for p in down if p not in common
            )
            self._differences[(plus, minus)] = move
        return move


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
        self._fibers: dict[tuple[int, Cell], list[int]] | None = None
        self._fiber_hidden: dict[tuple[int, Cell], set[int]] = defaultdict(set)
        for cell in self._suppressed:
            self._note_hidden(cell)

    def __repr__(self) -> str:
        return f"Cube({self.name!r}, {len(self._cells)} cells, {len(self._suppressed)} hidden)"

    # --- reading ----------------------------------------------------------------------

    def _cell(self, index: Sequence[Node]) -> Cell:
        if len(index) != len(self.dims):
            raise ValueError(f"{self.name}: an index needs {len(self.dims)} categories")
        return tuple(dim.position(node) for dim, node in zip(self.dims, index, strict=True))

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

    def _note_hidden(self, cell: Cell) -> None:
        for k, dim in enumerate(self.dims):
            if dim._is_leaf[cell[k]]:
                self._fiber_hidden[_line(cell, k)].add(cell[k])

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
        if self._fibers is None:
            fibers: dict[tuple[int, Cell], list[int]] = defaultdict(list)
            for c in self._cells:
                for j, dim in enumerate(self.dims):
                    if dim._is_leaf[c[j]]:
                        fibers[_line(c, j)].append(c[j])
            for (j, line), leaves in fibers.items():

                def order(p: int, j: int = j, line: Cell = line) -> tuple[int, int]:
                    return self._at(line, j, p), p

                leaves.sort(key=order)
            self._fibers = dict(fibers)
        return self._fibers.get(_line(cell, k), [])

    @staticmethod
    def _replace(cell: Cell, k: int, position: int) -> Cell:
        return (*cell[:k], position, *cell[k + 1 :])

    def _at(self, line: Cell, k: int, position: int) -> int:
        return self._cells.get(self._replace(line, k, position), 0)

    def _pick(
        self,
        k: int,
        cell: Cell,
        line: list[int],
        wanted: frozenset[int],
        inside: bool,
        width: int = 1,
        going_down: bool = False,
    ) -> list[int]:
        """A few cheap leaves of a line, in or outside ``wanted``: hidden ones (free) first,
        then the smallest counts. ``going_down``: only leaves that can give one away."""

        def fits(p: int) -> bool:
            if (p in wanted) != inside:
                return False
            if not going_down:
                return True
            edge = self._replace(cell, k, p)
            return self._cells.get(edge, 0) > _floor(self._is_published(edge))

        hidden = self._fiber_hidden.get(_line(cell, k), set())
        chosen = sorted(p for p in hidden if fits(p))[: _PRESELECT * width]
        for p in line:
            if len(chosen) >= 2 * _PRESELECT * width:
                break
            if p not in hidden and fits(p):
                chosen.append(p)
        return chosen

    def _free_leaves(
        self, k: int, cell: Cell, among: Iterable[int], taken: list[int], width: int = 1
    ) -> list[int]:
        """Zero leaves (of ``among``) whose cells are never published: free corners that may
        go up (small dimensions only, unless the search is widened)."""
        dim = self.dims[k]
        if len(dim.leaves) > _SMALL_DIMENSION * width * width:
            return []
        free = [
            p
            for p in among
            if p not in taken
            and self._replace(cell, k, p) not in self._cells
            and not self._is_published(self._replace(cell, k, p))
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

    def _moves(self, k: int, cell: Cell, forced: bool, width: int = 1) -> list[Move]:
        """The cheapest elementary changes along dimension k that keep every subtotal."""
        dim = self.dims[k]
        node = cell[k]
        if not dim.additive:
            return [((node, 1),)]
        line = self._fiber(k, cell)
        under = dim._under[node]
        inside = (
            [node]
            if dim._is_leaf[node]
            else self._pick(k, cell, line, under, True, width)[: _PRESELECT * width]
        )
        if not dim._is_leaf[node]:
            inside += self._free_leaves(k, cell, under, inside, width)
        outside = [] if node == 0 else self._pick(k, cell, line, under, False, width, forced)
        if node != 0:
            outside += self._free_leaves(k, cell, set(dim.leaves) - under, outside, width)
        candidates = [dim._chain_move(a) for a in inside]
        candidates += [dim._difference_move(a, b) for a in inside for b in outside]
        ranked: list[tuple[int, int, int, int, Move]] = []
        for order, move in enumerate(candidates):
            cost = zeros = 0
            for position, sign in move:
                if position == node:
                    continue
                edge = self._replace(cell, k, position)
                v = self._cells.get(edge, 0)
                public = self._is_published(edge)
                # A published zero cannot be hidden; when the cell itself cannot go down, the
                # box cannot turn around, so a corner that goes down must stay above its floor.
                if (public and v == 0) or (sign < 0 and forced and v <= _floor(public)):
                    break
                if public and edge not in self._suppressed:
                    cost += self._cost(edge, v)
                zeros += v == 0
            else:
                # Cheapest first; among equals, those without empty corners (an empty corner
                # can only go up, which often makes the box impossible).
                ranked.append((cost, zeros, len(move), order, move))
        ranked.sort(key=lambda r: r[:4])
        return [r[4] for r in ranked[: _CANDIDATES_PER_DIMENSION + 4 * (width - 1)]]

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
        return value * (1 + _TOTAL_WEIGHT * sum(1 for p in cell if p == 0))

    def _evaluate(
        self, moves: Sequence[Move], limit: float
    ) -> tuple[int, list[Cell], list[Cell]] | None:
        """The cost of a box, its published corners (to hide) and all its corners, or None if
        it is impossible or costs >= limit."""
        corners: list[Cell] = []
        every: list[Cell] = []
        cost = 0
        down_ok = up_ok = True
        positions = [[p for p, _s in move] for move in moves]
        signs = [[s for _p, s in move] for move in moves]
        for corner, corner_signs in zip(
            itertools.product(*positions), itertools.product(*signs), strict=True
        ):
            v = self._cells.get(corner, 0)
            public = self._is_published(corner)
            if public and v == 0:
                return None
            sign = math.prod(corner_signs)
            if v <= _floor(public):
                if sign < 0:
                    down_ok = False
                else:
                    up_ok = False
                if not (down_ok or up_ok):
                    return None
            every.append(corner)
            if public:
                if corner not in self._suppressed:
                    cost += self._cost(corner, v)
                    if cost >= limit:
                        return None
                corners.append(corner)
        return cost, corners, every

    def _search(self, cell: Cell, width: int) -> tuple[int, list[Cell], list[Cell]] | None:
        """The cheapest box among the best-ranked changes per dimension, or None."""
        forced = self._cells[cell] <= _floor(self._is_published(cell))
        options = [self._moves(k, cell, forced, width) for k in range(len(self.dims))]
        best: tuple[int, list[Cell], list[Cell]] | None = None
        widest = max(len(o) for o in options)
        # Widen the search one rank at a time; once a box is found keep looking (a corner
        # shared by two dimensions can make a later pair cheaper) for a while.
        evaluated = 0
        for budget in range(1, widest + 1):
            if best is not None and evaluated > _SEARCH_AFTER_FIRST:
                break
            ranges = [range(min(budget, len(o))) for o in options]
            for ranks in itertools.product(*ranges):
                if max(ranks) != budget - 1:
                    continue
                found = self._evaluate(
                    [o[r] for o, r in zip(options, ranks, strict=True)],
                    best[0] if best else math.inf,
                )
                if best is not None:
                    evaluated += 1
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
        alone misses)."""
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
            others = [o if j != k else [()] for j, o in enumerate(options)]
            for combo in itertools.product(*others):
                for partner in partners:
                    move = dim._difference_move(detail[k], partner)
                    box = [*combo[:k], move, *combo[k + 1 :]]
                    found = self._evaluate(box, best[0] if best else math.inf)
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
        """Drop the search indexes once protected (smaller to cache)."""
        self._fibers = None
        self._fiber_hidden = defaultdict(set)

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
