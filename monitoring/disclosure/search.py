"""Statistical disclosure control, the search for boxes (secondary suppression).

``BoxSearch`` is the half of ``Cube`` that hides cells: for every hidden cell it looks for the
cheapest *box* (see the rules in ``cube.py``) whose published corners it then hides too. The
search is a heuristic and is tuned for speed (state scale: hundreds of districts); every box
it uses is checked corner by corner (``_evaluate_split``), so the guarantee never depends on
how cleverly the box was found. ``tests/monitoring/test_disclosure.py`` checks that the
shortcuts (``_moves`` with ``first``, ``_Faces``) skip only boxes that cannot win.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from operator import getitem
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from monitoring.disclosure.cube import Dimension

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
        cube: BoxSearch,
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


class BoxSearch:
    """The box search of a ``Cube`` (a mixin: the cube holds the counts and the state below,
    set up in its ``__init__``)."""

    name: str
    dims: tuple[Dimension, ...]
    threshold: int
    _cells: dict[Cell, int]
    _sensitive: frozenset[Cell]
    _primary: frozenset[Cell]
    _suppressed: set[Cell]
    _protected: set[Cell]
    _lines: dict[tuple[int, Cell], list[tuple[int, int]]] | None
    _fibers: dict[tuple[int, Cell], list[int]]
    _corners: dict[Cell, tuple[int, bool]]
    _fiber_skip: dict[tuple[int, Cell], int]
    _fiber_hidden: dict[tuple[int, Cell], set[int]]
    _fiber_hidden_sorted: dict[tuple[int, Cell], list[int]]
    _is_published: Callable[[Cell], bool]

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
