"""The demo reads the user's own event files as train does: a CSV export's rows are the same events as NDJSON."""

from __future__ import annotations

import json

from clickguard.local.demo import _entries, _read_file


def test_a_csv_export_under_alias_names_puts_the_same_events_as_its_ndjson(tmp_path):
    ndjson = tmp_path / "day.ndjson"
    rows = [("2019-01-01T00:02:16.373Z", "u1", "login", "fail"), ("2019-01-01T00:02:43.127Z", "u2", "view_item", "")]
    events = [{"timestamp": t, "user_id": u, "event_type": e, **({"outcome": o} if o else {})} for t, u, e, o in rows]
    ndjson.write_text("".join(json.dumps(event) + "\n" for event in events))
    export = tmp_path / "day.csv"
    export.write_text("timestamp,visitorid,event,outcome\r\n" + "".join(f"{t},{u},{e},{o}\r\n" for t, u, e, o in rows))

    from_csv, from_ndjson = _entries(_read_file(export)), _entries(_read_file(ndjson))
    assert [e["PartitionKey"] for e in from_csv] == [e["PartitionKey"] for e in from_ndjson] == ["u1", "u2"]
    assert json.loads(from_csv[0]["Data"]) == {"timestamp": rows[0][0], "visitorid": "u1", "event": "login",
                                               "outcome": "fail"}  # fmt: skip


def test_an_access_log_file_is_keyed_by_its_clients_as_the_consumer_reads_them(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(
        '203.0.113.9 - - [10/Oct/2024:13:55:36 -0700] "GET /product/1 HTTP/1.1" 200 512 "-" "curl"\n'
        '198.51.100.4 - - [10/Oct/2024:13:55:37 -0700] "POST /login HTTP/1.1" 401 0 "-" "curl"\n'
        "not a request\n"
    )
    assert [e["PartitionKey"] for e in _entries(_read_file(log))] == ["203.0.113.9", "198.51.100.4", "unparsed"]


def test_a_file_newest_first_is_put_on_the_stream_in_the_order_its_events_happened(tmp_path):
    """An export written newest first: the demo puts it as train reads it, oldest first; a line without an event
    stays beside the line before it, and events of one time keep their order."""
    log = tmp_path / "newest-first.ndjson"
    events = [("u1", "2019-01-01T00:00:03Z"), ("u2", "2019-01-01T00:00:02Z"), ("u3", "2019-01-01T00:00:02Z")]
    lines = [json.dumps({"user_id": u, "event_type": "view", "timestamp": t}) for u, t in events]
    log.write_text("\n".join([lines[0], "not an event", *lines[1:]]) + "\n")
    assert [e["PartitionKey"] for e in _entries(_read_file(log))] == ["u2", "u3", "u1", "unparsed"]
