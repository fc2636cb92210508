"""The local stack's metrics, summed from the Embedded Metric Format lines its functions printed, as CloudWatch would
count them: a batch's rejections once in its total and once per reason, never twice in either."""

from __future__ import annotations

import json

from clickguard.local.metrics import metric_sum, totals


def _emf(service: str, values: dict[str, float], **dimensions: str) -> str:
    metrics = [{"Name": name, "Unit": "Count"} for name in values]
    doc = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "Clickguard", "Dimensions": [["service"]],
                                                           "Metrics": metrics}]},
           "service": service, **dimensions, **{k: [v] for k, v in values.items()}}  # fmt: skip
    return json.dumps(doc)


def test_totals_count_a_batch_s_rejections_once_and_apart_by_reason(tmp_path):
    path = tmp_path / "lambda-output.ndjson"
    lines = [
        '{"level": "INFO", "message": "batch done", "service": "clickguard-consumer-local"}',  # a log line: no metric
        _emf("clickguard-consumer-local", {"RecordsIn": 100, "RecordsRejected": 7, "FlagsSent": 2}),
        _emf("clickguard-consumer-local", {"RecordsRejected": 5}, reason="not_json"),
        _emf("clickguard-consumer-local", {"RecordsRejected": 2}, reason="static_file"),
        _emf("clickguard-consumer-local", {"RecordsIn": 50, "RecordsRejected": 0}),
        _emf("clickguard-trainer-local", {"EventsRead": 140}),
        "not json at all",
    ]
    path.write_text("\n".join(lines) + "\n")
    got = totals(path)
    assert got["by_service"]["clickguard-consumer-local"] == {"RecordsIn": 150, "RecordsRejected": 7, "FlagsSent": 2}
    assert got["by_service"]["clickguard-trainer-local"] == {"EventsRead": 140}
    assert got["rejected_by_reason"] == {"not_json": 5, "static_file": 2}
    assert metric_sum(path, "RecordsIn") == 150 and totals(tmp_path / "none") == {"by_service": {},
                                                                                  "rejected_by_reason": {}}  # fmt: skip
