"""SVG charts for the reports, drawn here (no chart library): bars and lines, black and grey, readable on paper.

Each function returns an SVG document as a string, with its numbers written on it, so that a chart prints, embeds in
HTML and PDF alike, and says its figures without a legend of colours.
"""

from xml.sax.saxutils import escape

WIDTH, HEIGHT = 640, 240
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 16, 24, 44
FONT = 'font-family="Noto Sans CJK SC, sans-serif"'


def _scale(values, top=None):
    top = top if top is not None else max([v for v in values if v is not None] or [0])
    return top if top > 0 else 1


def bar_chart(labels, values, title="", unit="", top=None, width=WIDTH, height=HEIGHT):
    """Vertical bars, one per label, each with its value written above it."""
    n = max(len(values), 1)
    scale = _scale(values, top)
    plot_w = width - PAD_LEFT - PAD_RIGHT
    plot_h = height - PAD_TOP - PAD_BOTTOM
    slot = plot_w / n
    bar = max(slot * 0.6, 2)
    parts = [_frame(width, height, title, scale, unit)]
    for i, (label, value) in enumerate(zip(labels, values, strict=False)):
        x = PAD_LEFT + i * slot + (slot - bar) / 2
        h = 0 if value is None else plot_h * min(value, scale) / scale
        y = PAD_TOP + plot_h - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="#555"/>')
        text = "-" if value is None else _fmt(value)
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" font-size="11" text-anchor="middle" {FONT}>'
            f"{escape(text)}</text>"
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height - PAD_BOTTOM + 16:.1f}" font-size="11" '
            f'text-anchor="middle" {FONT}>{escape(str(label))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(labels, values, title="", unit="", top=None, width=WIDTH, height=HEIGHT):
    """One line through the points, each point marked and labelled with its value."""
    n = len(values)
    scale = _scale(values, top)
    plot_w = width - PAD_LEFT - PAD_RIGHT
    plot_h = height - PAD_TOP - PAD_BOTTOM
    # Each point sits in the middle of its slot (as bars do), so that the first and last labels are not cut.
    step = plot_w / max(n, 1)
    points = []
    parts = [_frame(width, height, title, scale, unit)]
    for i, (label, value) in enumerate(zip(labels, values, strict=False)):
        x = PAD_LEFT + step / 2 + i * step
        parts.append(
            f'<text x="{x:.1f}" y="{height - PAD_BOTTOM + 16:.1f}" font-size="11" text-anchor="middle" '
            f"{FONT}>{escape(str(label))}</text>"
        )
        if value is None:
            continue
        y = PAD_TOP + plot_h - plot_h * min(value, scale) / scale
        points.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#000"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{y - 6:.1f}" font-size="11" text-anchor="middle" {FONT}>{escape(_fmt(value))}</text>'
        )
    if len(points) > 1:
        parts.insert(1, f'<polyline points="{" ".join(points)}" fill="none" stroke="#000" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


def _frame(width, height, title, scale, unit):
    plot_h = height - PAD_TOP - PAD_BOTTOM
    base = PAD_TOP + plot_h
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<text x="{PAD_LEFT}" y="14" font-size="12" {FONT}>{escape(title)}</text>'
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{base}" stroke="#000"/>'
        f'<line x1="{PAD_LEFT}" y1="{base}" x2="{width - PAD_RIGHT}" y2="{base}" stroke="#000"/>'
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 4}" font-size="10" text-anchor="end" {FONT}>'
        f"{escape(_fmt(scale))}{escape(unit)}</text>"
        f'<text x="{PAD_LEFT - 4}" y="{base}" font-size="10" text-anchor="end" {FONT}>0</text>'
    )


def _fmt(value):
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.1f}"
    return str(int(value)) if isinstance(value, float) else str(value)
