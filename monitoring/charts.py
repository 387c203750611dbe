"""Server-rendered SVG charts for the figures page: geometry here, markup in a template.

No JavaScript and no inline styles (CSP): the template ``monitoring/charts/chart.html``
draws what these functions compute, with presentation attributes only. Every chart repeats
numbers that are also in an accessible table; a hidden value (``None``) is not drawn but marked
with the suppression symbol, so a chart never shows more than the table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.formats import number_format

from monitoring.disclosure import SYMBOL

WIDTH = 720
HEIGHT = 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 64
# Colours with at least 3:1 contrast against white (WCAG 1.4.11); lines also differ in dashes.
PALETTE = ("#0b4f8a", "#a34700", "#2f6b1f", "#6b2f8a")
DASHES = ("", "6 4", "2 3", "8 3 2 3")


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str
    label_x: float


@dataclass(frozen=True)
class AxisLabel:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Path:
    points: str
    colour: str
    dash: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    colour: str
    label: str


@dataclass(frozen=True)
class LegendItem:
    x: float
    y: float
    colour: str
    dash: str
    label: str
    line: bool

    @property
    def swatch_end(self) -> float:
        return self.x + 18

    @property
    def swatch_top(self) -> float:
        return self.y - 6

    @property
    def text_x(self) -> float:
        return self.x + 24


@dataclass(frozen=True)
class Chart:
    """Everything the SVG template needs; ``key`` makes the title and description ids."""

    key: str
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: float = LEFT
    plot_right: float = WIDTH - RIGHT
    plot_top: float = TOP
    plot_bottom: float = HEIGHT - BOTTOM
    ticks: list[Tick] = field(default_factory=list)
    labels: list[AxisLabel] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)


def nice_maximum(value: float) -> float:
    """A round upper end for the value axis (1, 2, 2.5, 5 or 10 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _fmt(value: float) -> str:
    """A number as text for the reader (localised: "37,5" in German)."""
    if float(value).is_integer():
        return str(int(value))
    return str(number_format(round(value, 1), decimal_pos=1))


def _frame(
    key: str, title: str, description: str, categories: Sequence[str], series: Sequence[Series]
) -> tuple[Chart, float, float]:
    """The empty chart with its value axis; returns the chart, the axis maximum and the width
    of one category."""
    values = [v for s in series for v in s.values if v is not None]
    top = nice_maximum(max(values, default=0))
    chart = Chart(key=key, title=title, description=description)
    plot_height = chart.plot_bottom - chart.plot_top
    for i in range(5):
        fraction = i / 4
        chart.ticks.append(
            Tick(
                y=round(chart.plot_bottom - fraction * plot_height, 1),
                label=_fmt(top * fraction),
                label_x=chart.plot_left - 6,
            )
        )
    slot = (chart.plot_right - chart.plot_left) / max(len(categories), 1)
    for i, text in enumerate(categories):
        chart.labels.append(
            AxisLabel(
                x=round(chart.plot_left + (i + 0.5) * slot, 1), y=chart.plot_bottom + 18, text=text
            )
        )
    for i, s in enumerate(series):
        chart.legend.append(
            LegendItem(
                x=chart.plot_left + i * 200,
                y=chart.height - 16,
                colour=PALETTE[i % len(PALETTE)],
                dash=DASHES[i % len(DASHES)],
                label=s.label,
                line=False,
            )
        )
    return chart, top, slot


def bar_chart(
    *, key: str, title: str, description: str, categories: Sequence[str], series: Sequence[Series]
) -> Chart:
    """Grouped bars, one group per category; hidden values are marked, not drawn."""
    chart, top, slot = _frame(key, title, description, categories, series)
    plot_height = chart.plot_bottom - chart.plot_top
    width = slot * 0.8 / max(len(series), 1)
    for i in range(len(categories)):
        for j, s in enumerate(series):
            value = s.values[i]
            x = chart.plot_left + i * slot + slot * 0.1 + j * width
            if value is None:
                chart.marks.append(
                    Mark(x=round(x + width / 2, 1), y=chart.plot_bottom - 4, text=SYMBOL)
                )
                continue
            height = plot_height * value / top
            chart.bars.append(
                Bar(
                    x=round(x, 1),
                    y=round(chart.plot_bottom - height, 1),
                    width=round(max(width - 2, 1), 1),
                    height=round(height, 1),
                    colour=PALETTE[j % len(PALETTE)],
                    label=f"{categories[i]}, {s.label}: {_fmt(value)}",
                )
            )
    return chart


def line_chart(
    *, key: str, title: str, description: str, categories: Sequence[str], series: Sequence[Series]
) -> Chart:
    """Lines over the categories; a value not shown breaks the line and is marked."""
    chart, top, slot = _frame(key, title, description, categories, series)
    plot_height = chart.plot_bottom - chart.plot_top
    legend = []
    for item in chart.legend:
        legend.append(LegendItem(item.x, item.y, item.colour, item.dash, item.label, line=True))
    chart.legend[:] = legend
    for j, s in enumerate(series):
        colour, dash = PALETTE[j % len(PALETTE)], DASHES[j % len(DASHES)]
        run: list[str] = []
        for i, value in enumerate(s.values):
            x = round(chart.plot_left + (i + 0.5) * slot, 1)
            if value is None:
                if len(run) > 1:
                    chart.paths.append(Path(" ".join(run), colour, dash))
                run = []
                chart.marks.append(Mark(x=x, y=chart.plot_bottom - 4 - 12 * j, text=SYMBOL))
                continue
            y = round(chart.plot_bottom - plot_height * value / top, 1)
            run.append(f"{x},{y}")
            chart.dots.append(Dot(x, y, colour, f"{categories[i]}, {s.label}: {_fmt(value)}"))
        if len(run) > 1:
            chart.paths.append(Path(" ".join(run), colour, dash))
    return chart
