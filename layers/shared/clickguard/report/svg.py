"""Hand-built SVG charts: a heatmap, overlaid histograms and a bar chart. Escaped text, no external resources."""

from __future__ import annotations

import math
from html import escape

import numpy as np

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'font-family="sans-serif" font-size="10">' + "".join(body) + "</svg>"
    )


def heatmap(matrix: np.ndarray, labels: list[str], label: str = "transition matrix", cell: int = 14) -> str:
    """Rows = from, columns = to; colour = probability on a square-root scale so rare transitions show."""
    n = len(labels)
    margin = 8 + 6 * max((len(s) for s in labels), default=1)
    size = margin + n * cell + 10
    body = []
    scaled = np.sqrt(np.clip(matrix, 0.0, 1.0))
    for i in range(n):
        y = margin + i * cell
        body.append(f'<text x="{margin - 4}" y="{y + cell - 3}" text-anchor="end">{escape(labels[i])}</text>')
        for j in range(n):
            v = float(scaled[i, j])
            shade = int(255 * (1 - v))
            body.append(
                f'<rect x="{margin + j * cell}" y="{y}" width="{cell}" height="{cell}" '
                f'fill="rgb({shade},{shade},255)"><title>{escape(labels[i])} -&gt; {escape(labels[j])}: '
                f"{float(matrix[i, j]):.4f}</title></rect>"
            )
    for j in range(n):
        x = margin + j * cell + cell - 3
        body.append(f'<text transform="translate({x},{margin - 4}) rotate(-90)">{escape(labels[j])}</text>')
    return _svg(size, size, body, label)


def histograms(
    series: dict[str, list[float]],
    label: str,
    x_label: str,
    bins: int = 40,
    marker: float | None = None,
    width: int = 640,
    height: int = 280,
) -> str:
    """Overlaid density histograms (one outline per series) with an optional threshold marker. The axis starts at 0
    unless a value or the marker lies below it (a blended score may be negative); values that are not finite are
    left out."""
    series = {k: [v for v in vs if math.isfinite(v)] for k, vs in series.items()}
    values = [v for vs in series.values() for v in vs]
    if not values:
        return _svg(width, 40, ['<text x="10" y="20">no data</text>'], label)
    ends = values if marker is None or not math.isfinite(marker) else [*values, marker]
    lo, hi = min(0.0, *ends), max(0.0, *ends)
    hi += 0.05 * (hi - lo) or 1.0
    edges = np.linspace(lo, hi, bins + 1)
    left, bottom, plot_w, plot_h = 40, height - 40, width - 200, height - 60
    dens = {k: np.histogram(v, bins=edges, density=True)[0] for k, v in series.items() if v}
    top = max(float(d.max()) for d in dens.values()) or 1.0
    body = [
        f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#333"/>',
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>',
    ]
    for k in range(0, 6):
        v = lo + (hi - lo) * k / 5
        x = left + plot_w * k / 5
        body.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{v:.1f}</text>')
    for idx, (name, d) in enumerate(dens.items()):
        color = PALETTE[idx % len(PALETTE)]
        pts = []
        for b, h in enumerate(d):
            x0 = left + plot_w * b / bins
            x1 = left + plot_w * (b + 1) / bins
            y = bottom - plot_h * float(h) / top
            pts += [f"{x0:.1f},{y:.1f}", f"{x1:.1f},{y:.1f}"]
        body.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(pts)}"/>')
        body.append(f'<rect x="{left + plot_w + 15}" y="{20 + idx * 16}" width="10" height="10" fill="{color}"/>')
        body.append(f'<text x="{left + plot_w + 30}" y="{29 + idx * 16}">{escape(name)} (n={len(series[name])})</text>')
    if marker is not None and math.isfinite(marker):
        x = left + plot_w * (marker - lo) / (hi - lo)
        body.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom - plot_h}" stroke="#000" '
            f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{bottom - plot_h + 10}">threshold '
            f"{marker:.2f}</text>"
        )
    return _svg(width, height, body, label)


def bars(points: list[tuple[str, int]], label: str, width: int = 640, height: int = 220) -> str:
    if not points:
        return _svg(width, 40, ['<text x="10" y="20">no flags</text>'], label)
    left, bottom, plot_w, plot_h = 40, height - 30, width - 60, height - 50
    top = max(v for _, v in points) or 1
    step = plot_w / len(points)
    body = [
        f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#333"/>',
        f'<text x="{left - 4}" y="{bottom - plot_h + 4}" text-anchor="end">{top}</text>',
    ]
    every = max(1, len(points) // 12)
    for i, (name, v) in enumerate(points):
        h = plot_h * v / top
        x = left + i * step
        body.append(
            f'<rect x="{x + 1:.1f}" y="{bottom - h:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" '
            f'fill="#d62728"><title>{escape(name)}: {v}</title></rect>'
        )
        if i % every == 0:
            body.append(f'<text x="{x + step / 2:.1f}" y="{bottom + 14}" text-anchor="middle">{escape(name)}</text>')
    return _svg(width, height, body, label)


def curve(
    points: list[tuple[float, float]], label: str, x_label: str, y_label: str, width: int = 420, height: int = 320
) -> str:
    """A step curve on [0, 1] x [0, 1] (a precision-recall curve)."""
    if not points:
        return _svg(width, 40, ['<text x="10" y="20">no labels: no curve</text>'], label)
    left, bottom, plot_w, plot_h = 50, height - 40, width - 70, height - 60
    body = [
        f'<rect x="{left}" y="{bottom - plot_h}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>',
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{bottom - plot_h / 2}" transform="rotate(-90 12 {bottom - plot_h / 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    for k in range(0, 6):
        v = k / 5
        body.append(f'<text x="{left + plot_w * v:.1f}" y="{bottom + 14}" text-anchor="middle">{v:.1f}</text>')
        body.append(f'<text x="{left - 4}" y="{bottom - plot_h * v + 4:.1f}" text-anchor="end">{v:.1f}</text>')
    pts, prev_x = [], 0.0
    for x, y in points:
        py = bottom - plot_h * y
        pts += [f"{left + plot_w * prev_x:.1f},{py:.1f}", f"{left + plot_w * x:.1f},{py:.1f}"]
        prev_x = x
    body.append(f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="2" points="{" ".join(pts)}"/>')
    return _svg(width, height, body, label)
