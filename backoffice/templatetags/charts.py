"""Charts drawn on the server as SVG: no script, no outside file, and a text alternative
(a <title> and <desc> inside, the figure's data table beside) for every one."""

from dataclasses import dataclass
from decimal import Decimal
from html import escape

from django import template
from django.utils.safestring import mark_safe

register = template.Library()

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 44
GRID_LINES = 4
# At most this many labels under the x axis (every n-th shown); the table has all of them.
AXIS_LABELS = 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    text: str


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class AxisLabel:
    x: float
    text: str


def _number(value) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, int | float | Decimal) else None


def _format(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.1f}"
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}".strip()


def _ceiling(peak: float) -> float:
    """A round top for the axis, at or above the peak."""
    if peak <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(peak))) - 1)
    for step in (1, 2, 4, 6, 8, 12):  # each divides into GRID_LINES round steps
        if step * magnitude >= peak:
            return step * magnitude
    return 12.0 * magnitude


@register.inclusion_tag("backoffice/_chart.html")
def chart(figure):
    labels = [str(row.get(figure.chart_label, "")) for row in figure.rows]
    headers = {column.key: column.label for column in figure.columns}
    series = [(index, headers.get(key, key), key) for index, key in enumerate(figure.chart_series)]
    values = [[_number(row.get(key)) for _index, _label, key in series] for row in figure.rows]
    present = [value for row in values for value in row if value is not None]
    peak = max(present, default=0.0)
    top = 100.0 if figure.chart_unit == "%" else _ceiling(peak)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y_of(value: float) -> float:
        return TOP + plot_height - (value / top) * plot_height

    ticks = [Tick(y=round(y_of(top * step / GRID_LINES), 1), text=_format(top * step / GRID_LINES, figure.chart_unit))
             for step in range(GRID_LINES + 1)]
    count = max(len(labels), 1)
    slot = plot_width / count
    every = max(1, -(-len(labels) // AXIS_LABELS))
    axis = [AxisLabel(x=round(LEFT + slot * (index + 0.5), 1), text=label[5:] if figure.chart == "line" and
                      len(label) == 10 else label[:14])
            for index, label in enumerate(labels) if index % every == 0]
    bars, lines = [], []
    if figure.chart == "line":
        for index, label, _key in series:
            points = [(round(LEFT + slot * (position + 0.5), 1), round(y_of(row[index]), 1))
                      for position, row in enumerate(values) if row[index] is not None]
            lines.append({"series": index, "label": label,
                          "points": " ".join(f"{x},{y}" for x, y in points), "dots": points})
    else:
        width = slot * 0.8 / max(len(series), 1)
        for position, row in enumerate(values):
            for index, label, _key in series:
                value = row[index]
                if value is None:
                    continue
                y = y_of(value)
                bars.append(Bar(x=round(LEFT + slot * position + slot * 0.1 + width * index, 1), y=round(y, 1),
                                width=round(max(width - 1, 1), 1), height=round(TOP + plot_height - y, 1),
                                series=index, text=f"{labels[position]}, {label}: "
                                                   f"{_format(value, figure.chart_unit)}"))
    highest = ""
    if present:
        for position, row in enumerate(values):
            for index, label, _key in series:
                if row[index] == peak:
                    highest = f" The highest is {label} for {labels[position]}: {_format(peak, figure.chart_unit)}."
                    break
            if highest:
                break
    kind = "Line chart" if figure.chart == "line" else "Bar chart"
    description = (f"{kind} of {', '.join(label for _index, label, _key in series)} by "
                   f"{headers.get(figure.chart_label, figure.chart_label).lower()}, {len(labels)} "
                   f"{'point' if figure.chart == 'line' else 'group'}s.{highest}"
                   if present else "No data in this range.")
    # A year of days or three hundred stores is a thousand shapes: joined here (the text
    # escaped), rather than a template loop per attribute.
    bar_shapes = mark_safe("\n".join(  # noqa: S308 (numbers, and the text escaped)
        f'<rect class="kpi-s{bar.series}" x="{bar.x}" y="{bar.y}" width="{bar.width}" height="{bar.height}">'
        f"<title>{escape(bar.text)}</title></rect>" for bar in bars))
    for line in lines:
        line["dot_shapes"] = mark_safe("".join(  # noqa: S308 (numbers only)
            f'<circle class="kpi-s{line["series"]}" cx="{x}" cy="{y}" r="2.5"></circle>' for x, y in line["dots"]))
    return {
        "bar_shapes": bar_shapes,
        "figure": figure, "width": WIDTH, "center": WIDTH // 2, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT,
        "baseline": TOP + plot_height, "label_y": HEIGHT - BOTTOM + 18, "ticks": ticks, "axis": axis,
        "bars": bars, "lines": lines, "series": series, "description": description, "empty": not present,
    }


@register.filter
def cell(row: dict, column) -> str:
    """A figure's cell as people read it: numbers grouped, money with cents, durations named."""
    from backoffice.kpis import cell_text

    return cell_text(row.get(column.key), column.kind)


@register.simple_tag
def figure_rows(figure, span_query: str):
    """A figure's table body rows: the first column a row header, numbers right-aligned,
    and the link to the list behind the row (with the span, for the dashboard's own lists).
    Hundreds of rows: built as one string, every value escaped (the standard library's
    escape, which Django's escape is)."""
    from backoffice.kpis import cell_text

    with_span = figure.key in {"accuracy", "reconciliation", "adjustments"}
    first = figure.columns[0]
    parts = []
    for row in figure.rows:
        parts.append(f'<tr><th scope="row">{escape(cell_text(row.get(first.key), first.kind))}</th>')
        for column in figure.columns[1:]:
            opening = "<td>" if column.kind == "text" else '<td class="num">'
            parts.append(f"{opening}{escape(cell_text(row.get(column.key), column.kind))}</td>")
        link = row.get("link")
        if link:
            href = escape(f"{link}&{span_query}" if with_span else link)
            behind = escape(cell_text(row.get(first.key), first.kind))
            parts.append(f'<td><a href="{href}">List<span class="kpi-visually-hidden"> behind {behind}</span></a></td>')
        else:
            parts.append("<td></td>")
        parts.append("</tr>\n")
    return mark_safe("".join(parts))  # noqa: S308 (every value above is escaped)
