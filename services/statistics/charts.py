"""Bar charts drawn on the server as SVG: this module computes the geometry (bars, axis ticks,
labels), templates/statistics/_chart.html writes the SVG. No chart library and no script:
the chart is an image with its title and description for assistive technologies, and the
page always shows its numbers in a table beside it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 46  # room for the value axis and the category labels
MAX_LABELS = 14  # category labels shown at most (every nth beyond)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int          # 0, 1…: the CSS class picks its colour and pattern
    title: str           # shown on hover, read by screen readers that walk the bars


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class CategoryLabel:
    x: float
    text: str


@dataclass
class Chart:
    id: str
    title: str
    description: str
    series: list[str]
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    labels: list[CategoryLabel] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def baseline(self) -> float:
        return self.height - BOTTOM

    @property
    def left(self) -> int:
        return LEFT

    @property
    def right(self) -> int:
        return self.width - RIGHT


def thousands(number: int) -> str:
    """« 12 500 »: French digit grouping (a no-break space)."""
    return f"{number:,}".replace(",", "\u00a0")


def nice_maximum(value: int) -> tuple[int, int]:
    """An axis maximum at or above ``value`` and its step, in steps of 1, 2 or 5 × 10ⁿ, with
    at most five steps."""
    if value <= 0:
        return 1, 1
    magnitude = 10 ** max(0, int(math.floor(math.log10(value))) - 1)
    for step in (m * magnitude * scale for scale in (1, 10, 100) for m in (1, 2, 5)):
        if math.ceil(value / step) <= 5:
            return int(math.ceil(value / step) * step), int(step)
    return value, value  # never reached: 5 × 100 × magnitude covers every value


def grouped_bars(chart_id: str, title: str, description: str, categories: list[str],
                 series: list[str], values: list[list[int]], short_labels: list[str]) -> Chart:
    """``values[i][s]``: category i, series s. ``categories`` name them in the bars' titles,
    ``short_labels`` under the axis."""
    chart = Chart(chart_id, title, description, series)
    top, step = nice_maximum(max((v for row in values for v in row), default=0))
    plot_height = chart.baseline - TOP
    chart.ticks = [Tick(chart.baseline - plot_height * k * step / top, thousands(k * step))
                   for k in range(top // step + 1)]
    if not categories:
        return chart
    slot = (chart.right - LEFT) / len(categories)
    bar_width = max(1.0, slot * 0.8 / len(series))
    every = max(1, math.ceil(len(categories) / MAX_LABELS))
    for index, (category, row) in enumerate(zip(categories, values)):
        x0 = LEFT + index * slot + slot * 0.1
        for s, value in enumerate(row):
            height = plot_height * value / top
            chart.bars.append(Bar(round(x0 + s * bar_width, 2), round(chart.baseline - height, 2),
                                  round(bar_width, 2), round(height, 2), s,
                                  f"{category} — {series[s]} : {thousands(value)}"))
        if index % every == 0:
            chart.labels.append(CategoryLabel(round(LEFT + (index + 0.5) * slot, 2),
                                              short_labels[index]))
    return chart
