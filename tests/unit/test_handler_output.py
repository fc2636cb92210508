"""The local runtime's handler output: what handlers print goes to the file, and a metric read from it counts
every line printed so far, buffered or not (the demo's allow-list figure read 0 before it flushed)."""

from __future__ import annotations

import json
import sys

from clickguard.local.lambda_host import HandlerOutput


def test_a_metric_counts_every_line_printed_so_far(tmp_path) -> None:
    out = HandlerOutput(tmp_path / "lambda-output.ndjson").install()
    try:

        def handler(n: int) -> None:
            metrics = [{"Namespace": "Clickguard", "Dimensions": [["service"]],
                        "Metrics": [{"Name": "FlagsSuppressed", "Unit": "Count"}]}]  # fmt: skip
            print(json.dumps({"_aws": {"CloudWatchMetrics": metrics}, "service": "c", "FlagsSuppressed": [float(n)]}))

        invoke = out.wrap(handler)
        invoke(2)
        assert out.metric_total("FlagsSuppressed") == 2.0
        invoke(3)
        print("not a handler's line: stays on the terminal")
        assert out.metric_total("FlagsSuppressed") == 5.0
        assert out.metric_total("FlagsSent") == 0.0
    finally:
        out.uninstall()
    assert sys.stdout is not out


def test_a_new_stack_in_a_reused_workdir_counts_from_zero(tmp_path) -> None:
    """``local stats`` of a new stack read the workdir's last stack's counts (14,546 records in, before any put)."""
    path = tmp_path / "lambda-output.ndjson"
    metrics = [
        {"Namespace": "Clickguard", "Dimensions": [["service"]], "Metrics": [{"Name": "RecordsIn", "Unit": "Count"}]}
    ]
    path.write_text(json.dumps({"_aws": {"CloudWatchMetrics": metrics}, "service": "c", "RecordsIn": [14546.0]}) + "\n")
    out = HandlerOutput(path).install()
    try:
        assert out.metric_total("RecordsIn") == 0.0
    finally:
        out.uninstall()
