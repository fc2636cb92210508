"""What the local stack's functions reported as CloudWatch metrics: the Embedded Metric Format lines they printed
(``lambda_host.HandlerOutput`` collects them in one file, as CloudWatch Logs would), summed by name."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clickguard import settings as s

# The consumer's counts that say where every record went, in the order a reader adds them up.
CONSUMER_COUNTS = (
    s.METRIC_RECORDS_IN, s.METRIC_EVENTS_IN, s.METRIC_EVENTS_APPLIED, s.METRIC_RECORDS_REJECTED,
    s.METRIC_RECORDS_REPLAYED, s.METRIC_DUPLICATE_EVENT_IDS, s.METRIC_LATE_RECORDS, s.METRIC_RECORDS_UNSCORED,
    s.METRIC_RECORDS_CLAMPED, s.METRIC_RECORDS_TIMED_BY_ARRIVAL, s.METRIC_FLAGS_SENT, s.METRIC_FLAGS_SUPPRESSED,
    s.METRIC_PURCHASE_FLAGS_SENT,
)  # fmt: skip


def metric_sum(path: Path, name: str) -> float:
    """The sum of metric ``name`` over every service (0 when it was never emitted), by ``totals``' rule."""
    return float(sum(counts.get(name, 0) for counts in totals(path)["by_service"].values()))


def totals(path: Path) -> dict[str, Any]:
    """Every metric summed per service, and the rejected records by reason. A batch writes its rejections twice: in
    its total and in a document per reason (a ``reason`` dimension), which is counted apart, not again."""
    by_service: defaultdict[str, Counter[str]] = defaultdict(Counter)
    by_reason: Counter[str] = Counter()
    for doc in _documents(path):
        names = [m["Name"] for d in doc["_aws"].get("CloudWatchMetrics", ()) for m in d.get("Metrics", ())]
        for name in names:
            value = _number_sum(doc.get(name))
            if "reason" in doc:
                by_reason[str(doc["reason"])] += int(value)
            else:
                by_service[str(doc.get("service", "?"))][name] += int(value)
    return {"by_service": {s: dict(c) for s, c in sorted(by_service.items())}, "rejected_by_reason": dict(by_reason)}


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    """The file's Embedded Metric Format documents (its log lines and anything else skipped)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if '"_aws"' not in line:
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and isinstance(doc.get("_aws"), dict):
                yield doc


def _number_sum(value: Any) -> float:
    values = value if isinstance(value, list) else [value]
    return sum(v for v in values if isinstance(v, int | float) and not isinstance(v, bool))
