"""Statistical disclosure control for the anonymised figures: no table may reveal a child.

``cube.py`` (dimensions, counts, the rules), ``search.py`` (the box search of secondary
suppression), ``protect.py`` (protecting linked cubes, the published tables). The algorithm
is described in ``docs/figures.md`` and ``docs/adr/0006-disclosure-control-algorithm.md``.
"""

from monitoring.disclosure.cube import (
    MIN_THRESHOLD,
    SYMBOL,
    TOTAL,
    Cube,
    Dimension,
    UnpublishedCell,
    effective_threshold,
    percentile,
    statistic_visible,
)
from monitoring.disclosure.protect import PublishedTable, protect, protect_grid, publish

__all__ = [
    "MIN_THRESHOLD",
    "SYMBOL",
    "TOTAL",
    "Cube",
    "Dimension",
    "PublishedTable",
    "UnpublishedCell",
    "effective_threshold",
    "percentile",
    "protect",
    "protect_grid",
    "publish",
    "statistic_visible",
]
