"""Decoding benchmarks (issue 11): the C decoder beside the standard-library path, in the same process.

1. Which C decoder, on our record shapes: microseconds per record to decode a canonical event (with and without
   an attribute bag) into an ``Event``: msgspec's typed decoding (no dict), orjson then the Python field checks,
   msgspec untyped then the same checks, and the standard library (the reference path).
2. The consumer's decoding stage per record: the Lambda event's base64 and record tuples (``decode_event``) and
   the batch decode (``parse_all``), fast path beside ``fast_json=False`` (the standard-library path); and per
   event inside KPL aggregates built by ``aws_kinesis_agg``'s aggregator; the same events as web server access log
   lines, as Snowplow enriched lines, plain (a record each) and in Enrich's compressed zstd records, and as base64
   text (the AWS CLI v1's ``--data``).
3. The trainer's decoding of gzip NDJSON archive objects (``EventColumns.add_objects``), msgspec beside the
   standard library.

Run: ``python -m bench.bench_decode`` (``--quick`` for a smoke run). ``bench.bench_consumer`` and
``bench.bench_training`` give the whole handler and the whole trainer.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import msgspec
import orjson

from bench.data import ndjson_lines
from clickguard.cli.producer_formats import access_log_line, encode, snowplow_line
from clickguard.consumer.batch import parse_all
from clickguard.consumer.config import ConsumerConfig
from clickguard.consumer.kinesis_event import decode_event, decode_one_by_one
from clickguard.decoding import access_log, jsonfast
from clickguard.events import decode_json, parse_object, parse_record
from clickguard.timestamps import parse_timestamp
from clickguard.training import dataset
from clickguard.training.dataset import EventColumns

T0_MS = 1_763_683_200_000
SHARD = "shardId-000000000000"
CONFIG = ConsumerConfig(table_name="t", flag_queue_url="q", data_bucket="b", model_bucket="b")


def best_us(fn: Callable[[], Any], n: int, repeat: int) -> float:
    """Best-of-``repeat`` process CPU microseconds per item of one call of ``fn`` over ``n`` items."""
    runs = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        runs.append(time.process_time() - t0)
    return min(runs) / n * 1e6


def canonical(n: int, attributes: bool) -> list[bytes]:
    lines = ndjson_lines(n, max(1, n // 10), T0_MS, 86_400_000, seed=3)
    if attributes:
        return lines
    return [json.dumps({k: v for k, v in json.loads(line).items() if k != "attributes"}).encode() for line in lines]


def bench_choice(n: int, repeat: int) -> dict[str, dict[str, float]]:
    out = {}
    untyped = msgspec.json.Decoder().decode
    for label, lines in (("with attributes", canonical(n, True)), ("no attributes", canonical(n, False))):
        out[label] = {
            "msgspec typed": best_us(lambda ls=lines: [jsonfast.parse_json(x) for x in ls], n, repeat),
            "orjson + checks": best_us(lambda ls=lines: [parse_object(orjson.loads(x)) for x in ls], n, repeat),
            "msgspec untyped + checks": best_us(lambda ls=lines: [parse_object(untyped(x)) for x in ls], n, repeat),
            "standard library": best_us(lambda ls=lines: [parse_record(x) for x in ls], n, repeat),
        }
    return out


def lambda_event(payloads: list[tuple[str, bytes]]) -> dict[str, Any]:
    seq0 = 49590338271490256608559692538361571095921575989136588898
    return {
        "Records": [
            {
                "eventID": f"{SHARD}:{seq0 + i}",
                "kinesis": {
                    "data": base64.b64encode(data).decode(),
                    "partitionKey": key,
                    "sequenceNumber": str(seq0 + i),
                    "approximateArrivalTimestamp": T0_MS / 1000,
                },
            }
            for i, (key, data) in enumerate(payloads)
        ]
    }


def aggregates(lines: list[bytes]) -> list[tuple[str, bytes]]:
    from aws_kinesis_agg.aggregator import RecordAggregator

    agg, out = RecordAggregator(), []
    for line in lines:
        full = agg.add_user_record(json.loads(line)["user_id"], line)
        if full:
            out.append(full.get_contents())
    last = agg.clear_and_get()
    if last:
        out.append(last.get_contents())
    return [(key, data) for key, _ehk, data in out]


def bench_consumer_stage(n: int, repeat: int) -> dict[str, float]:
    lines = canonical(n, False)
    plain = lambda_event([(json.loads(x)["user_id"], x) for x in lines])
    kpl = lambda_event(aggregates(lines))
    slow = replace(CONFIG, fast_json=False)
    records, kpl_records = decode_event(plain), decode_event(kpl)
    assert len(parse_all(kpl_records, CONFIG).events) == n
    # The same events as a web server's combined log lines, each its own record (a page per event, as a log has)
    logs = [access_log_line(ev) for ev in (parse_record(x) for x in lines)]
    log_records = decode_event(lambda_event([(x.split(b" ", 1)[0].decode(), x) for x in logs]))
    assert len(parse_all(log_records, CONFIG).events) == n
    events = [parse_record(x) for x in lines]
    enriched = decode_event(lambda_event([(ev.user_key, snowplow_line(ev)) for ev in events]))
    packed = [(e["PartitionKey"], e["Data"]) for e in encode("snowplow_zstd", events, per_record=100)]
    zstd_records = decode_event(lambda_event(packed))
    assert len(parse_all(enriched, CONFIG).events) == len(parse_all(zstd_records, CONFIG).events) == n
    # The same events as base64 text, a record each (the AWS CLI v1's --data "$(... | base64)")
    texts = decode_event(lambda_event([(e["PartitionKey"], e["Data"]) for e in encode("base64", events)]))
    assert parse_all(texts, CONFIG).events == parse_all(records, CONFIG).events
    return {
        "base64": best_us(lambda: parse_all(texts, CONFIG), n, repeat),
        "access log": best_us(lambda: parse_all(log_records, CONFIG), n, repeat),
        "snowplow": best_us(lambda: parse_all(enriched, CONFIG), n, repeat),
        "snowplow zstd": best_us(lambda: parse_all(zstd_records, CONFIG), n, repeat),
        "zstd records": len(zstd_records),
        "decode_event": best_us(lambda: decode_event(plain), n, repeat),
        "decode_event stdlib": best_us(lambda: decode_one_by_one(plain), n, repeat),
        "parse_all": best_us(lambda: parse_all(records, CONFIG), n, repeat),
        "parse_all stdlib": best_us(lambda: parse_all(records, slow), n, repeat),
        "kpl": best_us(lambda: parse_all(decode_event(kpl), CONFIG), n, repeat),
        "kpl stdlib": best_us(lambda: parse_all(decode_event(kpl), slow), n, repeat),
        "aggregates": len(kpl_records),
    }


# A flat event under another scheme's names (round 1 of ``clickguard.field_names``), and under a spreadsheet's
# spelling of the canonical names (round 2), each a record of its own.
OTHER_NAMES = {"aliases": ("userId", "event", "time"), "spellings": ("User ID", "Event Type", "Timestamp")}


def bench_other_names(n: int, repeat: int) -> dict[str, float]:
    events = [parse_record(x) for x in canonical(n, False)]
    out = {}
    for kind, (user, action, when) in OTHER_NAMES.items():
        payloads = [
            (ev.user_key, json.dumps({user: ev.user_key, action: ev.token, when: ev.ts_ms}).encode()) for ev in events
        ]
        records = decode_event(lambda_event(payloads))
        assert [(e.user_key, e.token, e.ts_ms) for e in parse_all(records, CONFIG).events] == [e[:3] for e in events]
        out[kind] = best_us(lambda r=records: parse_all(r, CONFIG), n, repeat)
    return out


def _stdlib_lines(body: bytes, lines: list[bytes]) -> tuple[list[Any], bool] | None:
    """The archive path as it was before msgspec: one standard-library decode of the lines as an array."""
    try:
        objs = decode_json((b"[" + b",".join(lines) + b"]").decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return (objs, False) if len(objs) == len(lines) else None


def bench_trainer_stage(n: int, repeat: int) -> dict[str, float]:
    lines = ndjson_lines(n, max(1, n // 30), T0_MS, 7 * 86_400_000, seed=5)
    per = 2_000
    bodies = [gzip.compress(b"\n".join(lines[i : i + per]) + b"\n") for i in range(0, n, per)]

    def run() -> None:
        cols = EventColumns()
        cols.add_objects(bodies, gzipped=True)
        assert len(cols) == n

    fast = best_us(run, n, repeat)
    with mock.patch.object(dataset, "parse_lines", _stdlib_lines):
        slow = best_us(run, n, repeat)
    unzip = best_us(lambda: [dataset.gunzip(b) for b in bodies], n, repeat)
    return {"fast": fast, "stdlib": slow, "gunzip": unzip}


def log_file_lines(n: int, clients: int, seed: int = 11) -> list[bytes]:
    """A combined log of ``n`` lines from ``clients`` distinct public IPv4 clients, a third of them static files, a
    few lines a second: what ``train --input access.log`` reads from a real site."""
    rng = random.Random(seed)
    hosts = [
        f"{rng.randint(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
        for _ in range(clients)
    ]
    paths = ["/", "/c/{}", "/p/{}", "/search?q={}", "/login", "/img/{}.jpg", "/static/app.js", "/favicon.ico", "/cart"]
    out = []
    for i in range(n):
        when = datetime.fromtimestamp(T0_MS // 1000 + i // 5, tz=UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        path = rng.choice(paths).format(rng.randrange(5000))
        out.append(f'{rng.choice(hosts)} - - [{when}] "GET {path} HTTP/1.1" 200 512 "-" "Mozilla/5.0"'.encode())
    return out


def bench_log_file(n: int, clients: int, repeat: int) -> dict[str, float]:
    """``EventColumns.add_lines`` over a log file's lines, beside the same with the client read by ``ipaddress``
    behind its cache and each line's time parsed (the rule before 2026-12-01's fast path), in the same process."""
    lines = log_file_lines(n, clients)

    def run() -> EventColumns:
        cols = EventColumns()
        cols.add_lines(lines)
        return cols

    fast = best_us(run, n, repeat)
    with (
        mock.patch.object(access_log, "_plain_ipv4", lambda _text: None),
        mock.patch.object(access_log, "_line_time", parse_timestamp),
    ):
        before = run()
        slow = best_us(run, n, repeat)
    after = run()
    assert (after.users, after.tokens, after.ts_ms) == (before.users, before.tokens, before.ts_ms)
    return {"fast": fast, "before": slow, "events": len(after)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 records instead of 10,000 (100,000 for the trainer)")
    args = ap.parse_args(argv)
    n, n_train, repeat = (2_000, 20_000, 3) if args.quick else (10_000, 100_000, 5)
    print(f"1. canonical event -> Event, {n:,} records, CPU us/record (best of {repeat})")
    for label, row in bench_choice(n, repeat).items():
        base = row["standard library"]
        cells = ", ".join(f"{k} {v:.2f} ({base / v:.1f}x)" for k, v in row.items())
        print(f"   {label}: {cells}")
    c = bench_consumer_stage(n, repeat)
    print(f"2. the consumer's decoding stage, {n:,} records of one event, CPU us/record")
    print(
        f"   decode_event (base64, tuples) msgspec {c['decode_event']:.2f}, record by record "
        f"{c['decode_event stdlib']:.2f} ({c['decode_event stdlib'] / c['decode_event']:.1f}x); "
        f"parse_all msgspec {c['parse_all']:.2f}, "
        f"standard library {c['parse_all stdlib']:.2f} ({c['parse_all stdlib'] / c['parse_all']:.1f}x)"
    )
    print(
        f"   the same {n:,} events in {c['aggregates']} KPL aggregates (aws_kinesis_agg), decode_event + parse_all "
        f"per event: msgspec {c['kpl']:.2f}, standard library {c['kpl stdlib']:.2f}"
    )
    print(
        f"   the same events as access log lines (combined format, a record each): parse_all {c['access log']:.2f} "
        f"({c['access log'] / c['parse_all']:.1f}x the canonical records' {c['parse_all']:.2f})"
    )
    print(
        f"   as Snowplow enriched lines: a record each {c['snowplow']:.2f}, in {c['zstd records']} compressed zstd "
        f"records of Enrich's layout {c['snowplow zstd']:.2f} per event"
    )
    print(
        f"   as base64 text, a record each (the AWS CLI v1's --data): parse_all {c['base64']:.2f} "
        f"({c['base64'] / c['parse_all']:.1f}x the canonical records')"
    )
    o = bench_other_names(n, repeat)
    print(
        f"   as flat JSON under other names ({', '.join(OTHER_NAMES['aliases'])}): parse_all {o['aliases']:.2f}; "
        f"under a spreadsheet's spelling ({', '.join(OTHER_NAMES['spellings'])}): {o['spellings']:.2f}"
    )
    t = bench_trainer_stage(n_train, repeat)
    print(f"3. the trainer's decoding of gzip NDJSON archive objects, {n_train:,} events, CPU us/event")
    print(
        f"   msgspec {t['fast']:.2f} ({1e6 / t['fast']:,.0f} events/s), standard library {t['stdlib']:.2f} "
        f"({1e6 / t['stdlib']:,.0f} events/s), ratio {t['stdlib'] / t['fast']:.1f}x; of which gunzip {t['gunzip']:.2f}"
    )
    clients = n_train // 5
    f = bench_log_file(n_train, clients, repeat)
    print(
        f"4. a combined log file as train reads it, {n_train:,} lines ({f['events']:,.0f} pages, the rest static "
        f"files) of {clients:,} public IPv4 clients, CPU us/line: {f['fast']:.2f}, beside {f['before']:.2f} with each "
        f"client parsed by ipaddress behind its cache and each time parsed ({f['before'] / f['fast']:.2f}x)"
    )


if __name__ == "__main__":
    main()
