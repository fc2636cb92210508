"""What the local stack's functions reported as CloudWatch metrics: the Embedded Metric Format lines they printed
(``lambda_host.HandlerOutput`` collects them in one file, as CloudWatch Logs would), summed by name."""

from __future__ import annotations

import json
from pathlib import Path


def metric_sum(path: Path, name: str) -> float:
    """The sum of every value of metric ``name`` in the file (0 when it was never emitted)."""
    total = 0.0
    if not path.is_file():
        return total
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if f'"{name}"' not in line:
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            value = doc.get(name) if isinstance(doc, dict) and "_aws" in doc else None
            values = value if isinstance(value, list) else [value]
            total += sum(v for v in values if isinstance(v, int | float) and not isinstance(v, bool))
    return total
