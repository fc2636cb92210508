"""The report page: one HTML file, styles and SVG inline, so it opens offline and can be mailed around."""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np

from clickguard.report import svg
from clickguard.report.data import ReportData
from clickguard.review.stats import overall

TOP_STATES = 25
_CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    "th{background:#f2f2f2}td.n{text-align:right}h2{margin-top:1.6em}"
)


def top_states(data: ReportData, n: int = TOP_STATES) -> tuple[np.ndarray, list[str]]:
    """The ``n`` most visited states (by column mass), in that order, with ``START`` first if present."""
    probs = np.asarray(data.probabilities, dtype=float)
    mass = probs.sum(axis=0)
    order = [int(i) for i in np.argsort(-mass, kind="stable")[:n]]
    if data.tokens and data.tokens[0] == "START":  # the start distribution reads best as the first row
        order = [0, *[i for i in order if i != 0][: n - 1]]
    sub = probs[np.ix_(order, order)]
    return sub, [data.tokens[i] for i in order]


def _table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{v:,.3f}</td>'
            if isinstance(v, float)
            else f'<td class="n">{v:,}</td>'
            if isinstance(v, int)
            else f"<td>{escape(str(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render(data: ReportData) -> str:
    """The report's page: each section in reading order."""
    head = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(data.title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{escape(data.title)}</h1>"
    )
    model = "<h2>Model</h2>" + _table(
        ["model version", data.model_version], [[k, v] for k, v in data.thresholds.items()]
    )
    flags = "<h2 id='flags'>Flags over time</h2>" + svg.bars(data.flags_over_time, "flags over time")
    sections = [_quality(data), _throughput(data), _matrix(data), _session_scores(data), _user_scores(data)]
    sections += [_signals(data), flags, _decisions(data), _groups(data), _top_flagged(data), _notes(data)]
    return "".join([head, model, *sections, "</body></html>"])


def _quality(data: ReportData) -> str:
    if not data.quality:
        return ""
    q = data.quality
    rows: list[list[object]] = [
        [t, c["flagged"], c["total"], c["flagged"] / c["total"] if c["total"] else 0.0]
        for t, c in q.get("per_type", {}).items()
    ]
    return (
        "<h2 id='quality'>Quality against the ground truth</h2>"
        + _table(["user type", "flagged", "total", "share flagged"], rows)
        + _table(["precision", "recall"], [[float(q.get("precision", 0)), float(q.get("recall", 0))]])
    )


def _throughput(data: ReportData) -> str:
    if not data.throughput:
        return ""
    return "<h2>Throughput</h2>" + _table(["measure", "value"], [[k, float(v)] for k, v in data.throughput.items()])


def _matrix(data: ReportData) -> str:
    sub, labels = top_states(data)
    return (
        f"<h2 id='matrix'>Transition matrix (top {len(labels)} states)</h2>"
        "<p>Row = from, column = to; darker = more probable (square-root scale).</p>" + svg.heatmap(sub, labels)
    )


def _session_scores(data: ReportData) -> str:
    return (
        "<h2 id='scores'>Mean bits per session, by user type</h2>"
        "<p>The thesis's two bells: ordinary sessions on the left, odd transitions to the right (one of detector "
        "v2's signals).</p>"
        + svg.histograms(data.session_scores, "mean bits per session by user type", "mean bits per transition")
    )


def _top_flagged(data: ReportData) -> str:
    rows = []
    for f in data.top_flagged:
        top = "; ".join(f"{a} -> {b} ({bits:.1f} b)" for a, b, bits in (f.get("top") or [])[:3])
        strongest = "; ".join(
            f"{name} {value:.3g} ({bits:.1f} b)"
            for name, value, bits in (f.get("signals") or [])[:3]
            if value is not None
        )
        reasons = ",".join(f.get("reasons", []))
        rows.append([f["user"], f.get("user_type") or "?", float(f.get("score", 0)), reasons, strongest, top])
    return "<h2 id='top'>Top flagged users</h2>" + _table(
        ["user", "true type", "score", "reasons", "strongest signals", "three most surprising"], rows
    )


def _notes(data: ReportData) -> str:
    if not data.notes:
        return ""
    return "<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in data.notes) + "</ul>"


def _decisions(data: ReportData) -> str:
    """Reviewers' decisions per day and the share of flags they confirmed: the precision reviewers see."""
    if not data.decisions:
        return ""
    rows: list[list[object]] = [
        [t.day, t.decided, t.block, t.allow, t.confirmed_share if t.confirmed_share is not None else "-"]
        for t in [*data.decisions, overall(data.decisions)]
    ]
    return (
        "<h2 id='decisions'>Reviewers' decisions</h2>"
        "<p>Flags decided per day, and the share reviewers confirmed (block / decided): the precision of the flags "
        "they looked at. Each flag counts once, on the day of its latest decision.</p>"
        + svg.bars([(t.day, t.decided) for t in data.decisions], "decisions per day")
        + _table(["day", "decided", "block", "allow", "share confirmed"], rows)
    )


def _groups(data: ReportData) -> str:
    """Behaviour groups (seed 001): who behaves alike, what they do, who in each was flagged; and the campaigns."""
    g = data.behaviour_groups
    if not g:
        return ""
    rows: list[list[object]] = [
        [r["id"], r["users"], r["blocked"], r["flagged"], "; ".join(r["tokens"]), "; ".join(r["transitions"])]
        for r in g["groups"]
    ]
    part = (
        "<h2 id='groups'>Behaviour groups</h2><p>Users of the training window grouped by where their sessions' "
        f"surprise comes from (symmetric KL between per-action profiles; limit {g['limit']:.3g} bits, measured on "
        "the window). Blocked: users reviewers had blocked whose sessions fit the group; flagged: users flagged "
        "since whose session was nearest it.</p>"
        + _table(["group", "users", "blocked", "flagged", "typical actions (share of surprise)", "transitions"], rows)
    )
    if g["emerging"]:
        part += "<p>Flagged users whose sessions fit no group, by their rarest action:</p>" + _table(
            ["rarest action", "flagged users"], [[sig, n] for sig, n in g["emerging"]]
        )
    if g["alerts"]:
        alerts: list[list[object]] = [
            [a["signature"], a["bucket_start"], a["members"], a["threshold"], a["training_peak"], a["sample"]]
            for a in g["alerts"]
        ]
        part += "<h3 id='campaigns'>Campaign alerts</h3>" + _table(
            ["rarest action", "hour from", "members", "threshold", "training peak", "sample of users"], alerts
        )
    return part


def _user_scores(data: ReportData) -> str:
    """Each user's score by user type, and the precision-recall curve of that score where labels exist."""
    if not data.user_scores:
        return ""
    part = (
        "<h2 id='user-scores'>Score per user, by user type</h2>"
        "<p>Detector v2's score: the highest, after any of the user's events, of the bits of surprise of every "
        "signal under the training window's own distribution (blended with the supervised part when the model has "
        "one); above the threshold (the line) the consumer flags.</p>"
        + svg.histograms(data.user_scores, "user score by user type", "user score", marker=data.score_threshold)
    )
    if data.pr_curve:
        ap = f"{data.average_precision:.3f}" if data.average_precision is not None else "n/a"
        part += (
            f"<h2 id='pr'>Precision and recall of the score (average precision {ap})</h2>"
            "<p>Every threshold on the score above, against the ground truth; the consumer's own point is the "
            "model's threshold.</p>" + svg.curve(data.pr_curve, "precision-recall curve", "recall", "precision")
        )
    return part


def _signals(data: ReportData) -> str:
    """Each signal's distribution over the scored sessions, by user type: what separates whom."""
    if not data.signal_values:
        return ""
    part = (
        "<h2 id='signals'>Signals by user type</h2><p>Each of detector v2's signals over the scored day's "
        "sessions (long enough to judge), at the session's end.</p>"
    )
    for name, series in data.signal_values.items():
        if any(series.values()):
            part += f"<h3>{escape(name)}</h3>" + svg.histograms(series, f"{name} by user type", name)
    return part


def write(data: ReportData, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data), encoding="utf-8")
    return out
