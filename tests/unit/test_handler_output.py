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
