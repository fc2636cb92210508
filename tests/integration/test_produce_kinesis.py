"""Producing to a moto Kinesis stream: records read back intact; partial PutRecords failures retried."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter

import boto3
import pytest
import zstandard

from clickguard.cli.main import main
from clickguard.cli.produce_cmd import entries_from_file
from clickguard.decoding import Decoder
from clickguard.store.retry import Backoff
from clickguard.store.stream import PutFailed, PutStats, RateLimiter, put_batch, put_records_chunks
from clickguard.timestamps import parse_timestamp

STREAM = "clickguard-events"


@pytest.fixture
def kinesis(aws):
    client = boto3.client("kinesis", region_name="us-east-1")
    client.create_stream(StreamName=STREAM, ShardCount=2)
    client.get_waiter("stream_exists").wait(StreamName=STREAM)
    return client


def read_all(client) -> list[dict]:
    out = []
    for shard in client.list_shards(StreamName=STREAM)["Shards"]:
        it = client.get_shard_iterator(StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while it:
            resp = client.get_records(ShardIterator=it, Limit=10_000)
            out += resp["Records"]
            if not resp["Records"]:
                break
            it = resp.get("NextShardIterator")
    return out


def test_produce_file_then_read_back(kinesis, tmp_path, capsys):
    lines = [
        json.dumps(
            {"user_id": f"u{i % 7}", "event_type": "view_item", "timestamp": "2019-01-01T00:00:00Z", "event_id": str(i)}
        )
        for i in range(1203)
    ]
    f = tmp_path / "e.ndjson"
    f.write_text("\n".join([*lines, "not json", ""]))
    assert main(["produce", "--input", str(f), "--stream", STREAM, "--region", "us-east-1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 1203 and summary["calls"] == 3 and summary["rejected"] == {"not_json": 1}
    records = read_all(kinesis)
    assert sorted(json.loads(r["Data"])["event_id"] for r in records) == sorted(str(i) for i in range(1203))
    assert all(r["PartitionKey"] == json.loads(r["Data"])["user_id"] for r in records)


def test_produce_csv_and_simulation(kinesis, tmp_path, capsys):
    f = tmp_path / "e.csv"
    f.write_text(
        "user_id,event_type,timestamp,outcome\n1,login,2019-01-01T00:00:00Z,fail\n1,login,"
        "2019-01-01T00:00:05Z,success\n"
    )
    assert main(["produce", "--input", str(f), "--stream", STREAM]) == 0
    packed = tmp_path / "e.csv.zst"  # the same rows, zstd-compressed: read as CSV too
    packed.write_bytes(zstandard.ZstdCompressor().compress(f.read_bytes().replace(b"1,", b"2,")))
    assert main(["produce", "--input", str(packed), "--stream", STREAM]) == 0
    assert main(["produce", "--simulate", "--users", "40", "--seed", "2", "--stream", STREAM]) == 0
    out = capsys.readouterr().out
    records = read_all(kinesis)
    first = [json.loads(r["Data"]) for r in records if r["PartitionKey"] == "1"]
    assert {"outcome": "fail"}.items() <= first[0].items() or {"outcome": "fail"}.items() <= first[1].items()
    assert len(records) > 100 and '"source": "simulation day 1' in out
    second = [json.loads(r["Data"]) for r in records if r["PartitionKey"] == "2"]
    assert [e["event_type"] for e in second] == ["login", "login"] and second[0]["outcome"] == "fail"


def test_produce_a_tsv_export_under_its_own_column_names(kinesis, tmp_path):
    """A retail export's rows as train reads them: each the JSON object of its cells, keyed by its visitor."""
    f = tmp_path / "retail.tsv"
    f.write_text("timestamp\tvisitorid\tevent\titemid\n1433221332117\t257597\tview\t355908\n"
                 "1433224214164\t992329\taddtocart\t248676\n1433221999827\t111016\t\t318965\n")  # fmt: skip
    rejected: Counter[str] = Counter()
    entries = [entry for entry, _ in entries_from_file(f, "", Decoder(), False, rejected)]
    assert [e["PartitionKey"] for e in entries] == ["257597", "992329"]
    assert json.loads(entries[0]["Data"]) == {"timestamp": "1433221332117", "visitorid": "257597", "event": "view",
                                              "itemid": "355908"}  # fmt: skip
    assert rejected == {"missing_event_type": 1}
    assert main(["produce", "--input", str(f), "--stream", STREAM]) == 0
    assert sorted(r["PartitionKey"] for r in read_all(kinesis)) == ["257597", "992329"]
    renamed = tmp_path / "retail.txt"  # a name that says nothing: --input-format says what it is
    renamed.write_bytes(f.read_bytes())
    assert main(["produce", "--input", str(renamed), "--input-format", "tsv", "--stream", STREAM]) == 0
    assert len(read_all(kinesis)) == 4


def test_produce_a_web_server_s_access_log_and_a_header_under_any_name(kinesis, tmp_path):
    """An access log (its lines put as they are, keyed by the client), a W3C log (each request as the Kinesis
    Agent's LOGTOJSON object) and a CSV with a semicolon under a .txt name: what train reads, produce puts."""
    log = tmp_path / "access.log"
    log.write_text(
        '203.0.113.9 - - [10/Oct/2025:13:55:36 -0700] "GET /item/7 HTTP/1.1" 200 12 "-" "curl/8"\n'
        '203.0.113.9 - - [10/Oct/2025:13:55:38 -0700] "POST /login HTTP/1.1" 401 12 "-" "curl/8"\n'
        '198.51.100.4 - - [10/Oct/2025:13:55:39 -0700] "GET /style.css HTTP/1.1" 200 12 "-" "curl/8"\n'
    )
    w3c = tmp_path / "u_ex251010.log"
    w3c.write_text(
        "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
        "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip sc-status\n"
        "2025-10-10 20:55:36 10.0.0.1 GET /cart - 443 - 192.0.2.7 200\n"
    )
    sheet = tmp_path / "export.txt"
    sheet.write_text("user;event;time\nu9;view_item;2025-10-10T20:55:36Z\n")
    for path, keys in ((log, ["203.0.113.9", "203.0.113.9"]), (w3c, ["192.0.2.7"]), (sheet, ["u9"])):
        rejected: Counter[str] = Counter()
        got = list(entries_from_file(path, "", Decoder(), False, rejected))
        assert [entry["PartitionKey"] for entry, _ in got] == keys
        assert rejected == ({"static_file": 1} if path == log else {})
        assert main(["produce", "--input", str(path), "--stream", STREAM]) == 0
    put = [r["Data"] for r in read_all(kinesis)]
    assert len(put) == 4 and put.count(log.read_bytes().splitlines()[0]) == 1  # a log line put as it is
    assert {"user": "u9", "event": "view_item", "time": "2025-10-10T20:55:36Z"} in [json.loads(d) for d in put
                                                                                   if d[:1] == b"{"]  # fmt: skip


class FlakyKinesis:
    """Fails the odd-numbered records of the first ``bad_calls`` calls, like a throttled shard."""

    def __init__(self, real, bad_calls: int) -> None:
        self.real, self.bad_calls, self.calls, self.sent = real, bad_calls, 0, []

    def put_records(self, StreamName, Records):
        self.calls += 1
        if self.calls <= self.bad_calls:
            ok = Records[::2]
            resp = self.real.put_records(StreamName=StreamName, Records=ok)
            results = []
            for i in range(len(Records)):
                results.append(
                    resp["Records"][i // 2]
                    if i % 2 == 0
                    else {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"}
                )
            self.sent.append(len(Records))
            return {"FailedRecordCount": len(Records) // 2, "Records": results}
        self.sent.append(len(Records))
        return self.real.put_records(StreamName=StreamName, Records=Records)


def test_partial_failures_are_retried_exactly(kinesis):
    flaky = FlakyKinesis(kinesis, bad_calls=2)
    entries = [{"Data": json.dumps({"n": i}).encode(), "PartitionKey": f"u{i}"} for i in range(8)]
    stats, sleeps = PutStats(), []
    put_batch(flaky, STREAM, entries, stats, Backoff(base_s=0.1, sleep=sleeps.append))
    assert flaky.sent == [8, 4, 2]  # only the failed ones are resent
    assert stats.records == 8 and stats.retried_records == 6 and stats.calls == 3
    assert stats.error_codes == {"ProvisionedThroughputExceededException": 6}
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2  # exponential with full jitter
    assert sorted(json.loads(r["Data"])["n"] for r in read_all(kinesis)) == list(range(8))


def test_gives_up_after_max_attempts(kinesis):
    flaky = FlakyKinesis(kinesis, bad_calls=99)
    with pytest.raises(PutFailed) as exc:
        put_batch(
            flaky,
            STREAM,
            [{"Data": b"{}", "PartitionKey": f"k{i}"} for i in range(8)],
            PutStats(),
            Backoff(attempts=2, sleep=lambda s: None),
        )
    assert exc.value.failed == 2  # 8 sent, 4 failed and resent, 2 of those still failing


def test_chunks_respect_count_and_size_limits():
    small = [{"Data": b"x", "PartitionKey": "k"}] * 1201
    assert [len(c) for c in put_records_chunks(small)] == [500, 500, 201]
    big = [{"Data": b"x" * 900_000, "PartitionKey": "k"}] * 7
    assert [len(c) for c in put_records_chunks(big)] == [5, 2]  # 5 MiB per call
    with pytest.raises(ValueError, match="1 MiB"):
        list(put_records_chunks([{"Data": b"x" * (1024 * 1024 + 1), "PartitionKey": "k"}]))


def test_rate_limiter_sleeps_to_hold_the_rate():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    lim = RateLimiter(100, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        lim.acquire(50)
    assert sum(slept) == pytest.approx(1.5)  # 250 records at 100/s after a 100-record burst


def test_a_line_of_several_events_is_put_as_a_record_per_event_under_its_user(tmp_path):
    """An NDJSON line holding an array of two users' events: one canonical record each, keyed by its user, so each
    user's events keep to one shard; its bad part is counted."""
    f = tmp_path / "mixed.ndjson"
    f.write_text('[{"user_id": "u1", "event_type": "view", "timestamp": 1763700000}, '
                 '{"user_id": "u2", "event_type": "login", "timestamp": 1763700001, "outcome": "fail"}, '
                 '{"user_id": "u3"}]\n'
                 '{"user_id": "u3", "event_type": "view", "timestamp": 1763700002}\n')  # fmt: skip
    rejected: Counter[str] = Counter()
    got = list(entries_from_file(f, "", Decoder(), False, rejected))
    assert [entry["PartitionKey"] for entry, _ in got] == ["u1", "u2", "u3"]
    assert [Decoder().decode(entry["Data"]) for entry, _ in got] == [ev for _, events in got for ev in events]
    assert got[1][1][0].token == "login#fail" and rejected == {"missing_event_type": 1}


def test_a_file_newest_first_is_put_in_the_order_its_events_happened(kinesis, tmp_path):
    """As train reads a file: a stream of an export newest first would have the consumer drop each session's
    earlier events as late."""
    f = tmp_path / "newest-first.ndjson"
    times = [1763700060, 1763700030, 1763700000]
    f.write_text("".join(f'{{"user_id": "u1", "event_type": "view", "timestamp": {t}}}\n' for t in times))
    assert main(["produce", "--input", str(f), "--stream", STREAM]) == 0
    assert [json.loads(r["Data"])["timestamp"] for r in read_all(kinesis)] == sorted(times)


def _dated(start_ms: int, n: int = 40) -> str:
    rows = ({"user_id": f"u{i % 4}", "event_type": "view", "timestamp": start_ms + 1_500 * i} for i in range(n))
    return "\n".join(json.dumps(r) for r in rows) + "\n"


def test_a_file_dated_ahead_of_now_is_warned_of_and_shift_time_keeps_its_gaps(kinesis, tmp_path, capsys):
    """The consumer reads an event dated past its arrival plus 5 minutes at that instant: a generator's file of
    tomorrow arrived as bursts at one time (every gap 0, a machine's pace)."""
    ahead = int(time.time() * 1000) + 86_400_000
    path = tmp_path / "tomorrow.ndjson"
    path.write_text(_dated(ahead))
    argv = ["produce", "--input", str(path), "--stream", STREAM, "--region", "us-east-1"]
    assert main(argv) == 0
    assert "40 event(s) are dated more than 5 minutes after now" in capsys.readouterr().err
    assert main([*argv, "--shift-time"]) == 0
    assert "after now" not in capsys.readouterr().err
    all_times = [parse_timestamp(json.loads(r["Data"])["timestamp"]) for r in read_all(kinesis)]
    times = sorted(t for t in all_times if t < ahead)  # the second put's
    assert len(all_times) == 80 and len(times) == 40 and abs(times[-1] - time.time() * 1000) < 60_000
    assert [b - a for a, b in itertools.pairwise(times)] == [1_500] * 39  # the gaps as they were


def test_a_file_dated_in_the_past_is_put_without_a_warning(kinesis, tmp_path, capsys):
    path = tmp_path / "yesterday.ndjson"
    path.write_text(_dated(1_700_000_000_000))
    assert main(["produce", "--input", str(path), "--stream", STREAM, "--region", "us-east-1"]) == 0
    assert "after now" not in capsys.readouterr().err
