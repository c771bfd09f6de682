"""Plain-text tables that line up in a terminal and on paper, with Chinese (double-width) text in them."""

import unicodedata


def width(text):
    """Display width: East Asian wide and full-width characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in str(text))


def pad(text, size, align="<"):
    text = str(text)
    gap = max(size - width(text), 0)
    return text + " " * gap if align == "<" else " " * gap + text


def table(headers, rows, align=None):
    """Render HEADERS and ROWS (lists of cells) as lines; ALIGN is a string of '<' and '>' per column."""
    align = align or "<" * len(headers)
    sizes = [max([width(h)] + [width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, sizes[i], align[i]) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * s for s in sizes))
    for row in rows:
        lines.append("  ".join(pad(c, sizes[i], align[i]) for i, c in enumerate(row)).rstrip())
    return lines
