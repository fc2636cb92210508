"""`clickguard train` and `clickguard models`: bootstrap from a file, list, roll back, and bad arguments."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest
import zstandard

from clickguard.cli.main import main
from clickguard.events import parse_record
from clickguard.rejections import Reason
from clickguard.timestamps import format_ms
from tests.factories import ndjson, ordinary_events


@pytest.fixture
def events_file(tmp_path):
    path = tmp_path / "export.ndjson"
    path.write_bytes(ndjson(ordinary_events(120, seed=9)) + b"garbage line\n")
    return path


def run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr()


def test_train_from_file_then_list_show_and_rollback(tmp_path, events_file, capsys):
    out_dir = tmp_path / "artifacts"
    code, io = run(
        capsys, "train", "-i", str(events_file), "-o", str(out_dir), "--min-sessions", "10", "--min-token-count", "1"
    )
    assert code == 0
    first = json.loads(io.out)
    assert first["rejected"] == {"not_json": 1} and first["sessions"] >= 120
    assert first["rejected_first"]["not_json"].startswith("neither JSON nor a line of a log format")  # why
    assert first["latest"] == first["version"] and first["user_cap"]["transitions"]["cap"] is None
    code, io = run(
        capsys,
        "train",
        "-i",
        str(events_file),
        "-o",
        str(out_dir),
        "--min-sessions",
        "10",
        "--min-token-count",
        "1",
        "--mean-quantile",
        "0.9",
    )
    second = json.loads(io.out)
    assert code == 0 and second["version"] != first["version"]
    # the same window: the second model is written, but latest.json only moves to a later window
    assert second["latest"] == first["version"] and "stays on" in second["latest_note"]
    _, io = run(capsys, "models", "list", "--store", str(out_dir))
    assert f"* {first['version']}" in io.out and f"  {second['version']}" in io.out
    _, io = run(capsys, "models", "rollback", "--store", str(out_dir), "--to", second["version"])
    assert f"now points at {second['version']}" in io.out  # an operator may choose either, on purpose
    _, io = run(capsys, "models", "show", "--store", str(out_dir))
    assert json.loads(io.out)["version"] == second["version"]
    _, io = run(capsys, "models", "rollback", "--store", str(out_dir), "--to", first["version"])
    assert f"now points at {first['version']} (was {second['version']})" in io.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "-i", "/nope.ndjson", "-o", "x"], "--input /nope.ndjson: no such file"),
        (["train", "-i", "EVENTS", "-o", "x", "--mean-quantile", "1.5"], "must be in [0.5, 0.999999]"),
        (["train", "-i", "EVENTS", "-o", "x", "--min-sessions", "zero"], "'zero' is not an integer"),
        (["train", "-i", "EVENTS", "-o", "x", "--smoothing", "0"], "smoothing=0.0 (need 1e-09 <= smoothing <= 1000)"),
        (["train", "-i", "EVENTS", "-o", "x", "--max-user-share", "0"], "0.0 must be in [1e-06, 1]"),
        (
            ["train", "-i", "EVENTS", "-o", "x", "--min-sessions", "100000"],
            "fewer than the minimum of 100000 (--min-sessions N publishes from fewer)",
        ),
        (["train", "-i", "EVENTS", "-o", "s3://"], "give s3://BUCKET"),
        (["models", "rollback", "--store", "OUT"], "rollback needs --to VERSION"),
        (["models", "rollback", "--store", "OUT", "--to", "v0"], "no model version 'v0'"),
        (["models", "show", "--store", "OUT"], "no model published"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_say_what_is_wrong_and_exit_non_zero(argv, message, events_file, tmp_path, capsys):
    argv = [str(events_file) if a == "EVENTS" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", ["export.ndjson.gz", "elb-2024-10-10T1000Z-a1b2"])  # a shipper's object: no .gz
def test_train_reads_gzip_exports(tmp_path, capsys, name):
    import gzip

    path = tmp_path / name
    path.write_bytes(gzip.compress(ndjson(ordinary_events(60, seed=2))))
    code, io = run(
        capsys, "train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "5", "--min-token-count", "1"
    )
    assert code == 0 and json.loads(io.out)["events"] == len(ordinary_events(60, seed=2))


def test_a_json_document_on_one_line_longer_than_a_csv_cell_may_be_is_json():
    """``json.dump`` and ``JSON.stringify`` write an export on one line; past 128 KiB the CSV sniffing of that line
    had failed the file as 'not CSV (field larger than field limit)'."""
    from tests.factories import file_results

    events = ordinary_events(400, seed=4)
    body = json.dumps(events).encode()
    assert len(body) > 131_072 and b"\n" not in body
    got = file_results(body, "export.json")
    assert len(got) == len(events) and all(not isinstance(e, Reason) for e in got)


@pytest.mark.parametrize("compress", [False, True])
def test_a_file_s_first_bytes_are_peeked_not_consumed_even_from_a_pipe(compress):
    """The compression is told by the first bytes; a pipe cannot be opened twice, so they must stay readable."""
    import gzip
    import os
    import threading

    from clickguard.files import open_binary

    body = ndjson(ordinary_events(5, seed=3))
    read_end, write_end = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write_end, gzip.compress(body) if compress else body),
                                              os.close(write_end)))  # fmt: skip
    writer.start()
    with open_binary(f"/dev/fd/{read_end}") as fh:
        assert fh.read() == body
    writer.join()
    os.close(read_end)


def zstd_file(body: bytes, frames: int = 3) -> bytes:
    """zstd as the zstd tool and exporters write it; cut in ``frames`` frames one after another, as concatenated
    files (``cat a.zst b.zst``) are."""
    step = -(-len(body) // frames)
    return b"".join(zstandard.ZstdCompressor().compress(body[i : i + step]) for i in range(0, len(body), step))


@pytest.mark.parametrize("name", ["export.ndjson.zst", "export.csv.zst"])
def test_zstd_event_files_train_and_score_as_the_plain_file(tmp_path, capsys, name):
    events = ordinary_events(150, seed=7)
    canonical = tmp_path / "canonical.ndjson"
    canonical.write_bytes(ndjson(events))
    rows = [{"timestamp": format_ms(round(e["timestamp"] * 1000)), "event_type": e["event_type"],
             "user_id": e["user_id"], "outcome": e["outcome"]} for e in events]  # fmt: skip
    body = _csv(rows, ["timestamp", "event_type", "user_id", "outcome"]) if ".csv" in name else ndjson(events)
    packed = tmp_path / name
    packed.write_bytes(zstd_file(body))
    trained, scores = _train_and_score(capsys, tmp_path, {"ndjson": canonical, "zst": packed})
    assert trained["zst"]["events"] == trained["ndjson"]["events"] == len(events) and trained["zst"]["rejected"] == {}
    assert trained["zst"]["thresholds"] == trained["ndjson"]["thresholds"] and scores["zst"] == scores["ndjson"]


@pytest.mark.parametrize(("cut", "why"), [(-12, "the file ends inside a zstd frame"), (None, "not zstd")])
def test_a_truncated_or_foreign_zst_file_is_a_cli_error_not_a_shorter_file(tmp_path, capsys, cut, why):
    body = zstd_file(ndjson(ordinary_events(60, seed=2)), frames=1)
    path = tmp_path / "export.ndjson.zst"
    path.write_bytes(body[:cut] if cut else b"{}\n" + body)
    with pytest.raises(SystemExit) as info:
        main(["train", "-i", str(path), "-o", str(tmp_path / "m")])
    assert info.value.code == 2 and f"cannot read it (EOFError: {why}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "head", "says"),
    [
        ("clicks.parquet", b"PAR1\x15\x04\x15", "a Parquet file: write it as NDJSON or CSV first"),
        ("clicks.xlsx", b"PK\x03\x04\x14\x00\x06\x00", "an Excel workbook is one): export the sheet as CSV"),
        ("clicks.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "an Excel 97-2003 workbook"),
        ("clicks.csv.gz", None, "a Parquet file"),  # the same inside gzip
        ("two.tar.gz", None, "a tar archive: extract the files"),
        ("two.tar", None, "a tar archive: extract the files"),
        ("two.ndjson.bz2", None, "bzip2-compressed: decompress it"),
    ],
)
def test_a_workbook_or_columnar_file_is_named_with_what_to_do_not_every_line_rejected(
    tmp_path, capsys, name, head, says
):
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"PAR1\x15\x04" + bytes(64)) if head is None else head + bytes(64))
    if name.startswith("two."):  # a real archive, by the standard library's own writers
        path.write_bytes(_archive(tmp_path, name))
    with pytest.raises(SystemExit) as info:
        main(["train", "-i", str(path), "-o", str(tmp_path / "m")])
    assert info.value.code == 2 and says in capsys.readouterr().err


def _archive(tmp_path, name: str) -> bytes:
    """Two event files in a tar (gzipped for .tar.gz), or one file in bzip2."""
    import bz2
    import tarfile

    body = ndjson(ordinary_events(5, seed=1))
    if name.endswith(".bz2"):
        return bz2.compress(body)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if name.endswith(".gz") else "w") as tar:
        for member in ("a.json", "b.json"):
            (tmp_path / member).write_bytes(body)
            tar.add(tmp_path / member, arcname=member)
    return out.getvalue()


def test_a_file_of_another_shape_trains_and_scores_through_a_field_mapping_as_the_canonical_file_does(tmp_path, capsys):
    events = ordinary_events(150, seed=4)
    canonical = tmp_path / "canonical.ndjson"
    canonical.write_bytes(ndjson(events))
    shaped = tmp_path / "shaped.ndjson.gz"  # the producer's own JSON, gzip-compressed
    rows = [{"actor": {"id": e["user_id"]}, "action": {"name": e["event_type"], "status": e["outcome"].upper()},
             "at": format_ms(round(e["timestamp"] * 1000))} for e in events]  # fmt: skip
    shaped.write_bytes(gzip.compress(ndjson(rows)))
    mapping = json.dumps(
        {"user_key": "actor.id", "event_type": "action.name", "time": "at", "outcome": "action.status",
         "failure_values": ["fail"]}
    )  # fmt: skip
    (tmp_path / "mapping.json").write_text(mapping)
    common = ["--min-sessions", "10", "--min-token-count", "1"]
    code, io = run(capsys, "train", "-i", str(canonical), "-o", str(tmp_path / "a"), *common)
    assert code == 0
    plain = json.loads(io.out)
    code, io = run(capsys, "train", "-i", str(shaped), "-o", str(tmp_path / "b"), "--field-mapping", mapping, *common)
    assert code == 0
    mapped = json.loads(io.out)
    assert mapped["events"] == plain["events"] == len(events) and mapped["sessions"] == plain["sessions"]
    assert mapped["thresholds"] == plain["thresholds"]
    out = {}
    for name, extra in (("plain", []), ("mapped", ["--field-mapping", f"@{tmp_path / 'mapping.json'}"])):
        path = canonical if name == "plain" else shaped
        code, io = run(capsys, "score", "--events", str(path), "--model", str(tmp_path / "a"), "--out", "-", *extra)
        assert code == 0
        out[name] = io.out
    assert out["mapped"] == out["plain"] and out["plain"].count("\n") == 151  # a header and every user


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ([], "events need user_id, event_type and timestamp, or --field-mapping"),
        (["--field-mapping", '{"user_key": "actor.id", "event_type": "action"}'], "field mapping lacks ['time']"),
        (["--field-mapping", "{not json"], "field mapping is not JSON"),
        (["--field-mapping", "@/nonexistent/mapping.json"], "cannot read '/nonexistent/mapping.json'"),
    ],
)
def test_a_file_of_another_shape_without_a_good_mapping_says_what_to_do_and_exits_2(tmp_path, capsys, extra, needle):
    shaped = tmp_path / "shaped.ndjson"
    shaped.write_text('{"actor": {"id": "u1"}, "action": "view", "at": "2025-11-20T00:00:00Z"}\n')
    with pytest.raises(SystemExit) as exc:
        main(["train", "-i", str(shaped), "-o", str(tmp_path / "out"), *extra])
    assert exc.value.code == 2 and needle in capsys.readouterr().err


def test_a_field_mapping_without_input_files_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--local", "--field-mapping", '{"user_key": "a", "event_type": "b", "time": "c"}'])
    assert exc.value.code == 2 and "--field-mapping reads --input files" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["bom.ndjson", "bom.ndjson.gz"])
def test_a_file_that_starts_with_a_byte_order_mark_reads_every_line(tmp_path, capsys, name):
    body = b"\xef\xbb\xbf" + ndjson(ordinary_events(60, seed=3)).replace(b"\n", b"\r\n")  # as Windows tools write
    path = tmp_path / name
    path.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    code, io = run(capsys, "train", "-i", str(path), "-o", str(tmp_path / "out"), "--min-sessions", "10")
    assert code == 0 and json.loads(io.out)["rejected"] == {}


def _train_and_score(capsys, tmp_path, files: dict[str, object]) -> tuple[dict[str, dict], dict[str, str]]:
    """Each file trained into a model of its own (its report by label), and each scored with the first file's model
    (the CSV by label)."""
    trained = {}
    for label, path in files.items():
        code, io_ = run(capsys, "train", "-i", str(path), "-o", str(tmp_path / label), "--min-sessions", "10",
                        "--min-token-count", "1")  # fmt: skip
        assert code == 0
        trained[label] = json.loads(io_.out)
    model = tmp_path / next(iter(files))
    scores = {}
    for label, path in files.items():
        code, io_ = run(capsys, "score", "--events", str(path), "--model", str(model), "--out", "-")
        assert code == 0
        scores[label] = io_.out
    return trained, scores


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\r\n")  # as the csv module and spreadsheets write it
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.mark.parametrize("name", ["export.csv", "export.csv.gz"])
def test_a_csv_file_trains_and_scores_as_the_same_events_in_ndjson(tmp_path, capsys, name):
    """A CSV export with a header row (the e-commerce dumps' column names: event_time, user_session) reads as the
    same events as the canonical NDJSON."""
    events = ordinary_events(150, seed=5)
    canonical = tmp_path / "canonical.ndjson"
    canonical.write_bytes(ndjson(events))
    rows = [{"event_time": format_ms(round(e["timestamp"] * 1000)), "event_type": e["event_type"], "brand": "",
             "user_id": e["user_id"], "outcome": e["outcome"], "price": "1,5"} for e in events]  # fmt: skip
    body = _csv(rows, ["event_time", "event_type", "brand", "price", "user_id", "outcome"])
    shaped = tmp_path / name
    shaped.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    trained, scores = _train_and_score(capsys, tmp_path, {"ndjson": canonical, "csv": shaped})
    assert trained["csv"]["events"] == trained["ndjson"]["events"] == len(events)
    assert trained["csv"]["thresholds"] == trained["ndjson"]["thresholds"] and trained["csv"]["rejected"] == {}
    assert scores["csv"] == scores["ndjson"]


def test_a_bad_csv_row_is_counted_with_its_reason_and_the_others_are_read(tmp_path, capsys):
    events = ordinary_events(40, seed=6)
    rows = [{"user_id": e["user_id"], "event_type": e["event_type"], "timestamp": e["timestamp"]} for e in events]
    body = _csv(rows, ["user_id", "event_type", "timestamp"])
    body += b"user-x,,1763700000\r\n" + b"user-\xff,view_item,1763700000\r\n" + b"user-y,view_item,yesterday\r\n"
    path = tmp_path / "export.csv"
    path.write_bytes(body)
    code, io_ = run(capsys, "train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "5")
    assert code == 0
    report = json.loads(io_.out)
    assert report["events"] == len(events)
    assert report["rejected"] == {"missing_event_type": 1, "not_utf8": 1, "bad_timestamp": 1}


def test_a_csv_of_other_column_names_reads_through_a_field_mapping(tmp_path, capsys):
    """Column names no alias covers (a retail dataset's visitorid, event, timestamp in ms): the CLI says to map them,
    and a mapping of the column names reads them."""
    events = ordinary_events(60, seed=7)
    rows = [{"timestamp": round(e["timestamp"] * 1000), "visitorid": e["user_id"], "kind": e["event_type"],
             "itemid": 7} for e in events]  # fmt: skip
    path = tmp_path / "events.csv"
    path.write_bytes(_csv(rows, ["timestamp", "visitorid", "kind", "itemid"]))
    with pytest.raises(SystemExit) as exc:
        main(["train", "-i", str(path), "-o", str(tmp_path / "no")])
    assert exc.value.code == 2 and "or --field-mapping" in capsys.readouterr().err
    mapping = '{"user_key": "visitorid", "event_type": "kind", "time": "timestamp"}'
    code, io_ = run(capsys, "train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "5",
                    "--field-mapping", mapping)  # fmt: skip
    assert code == 0 and json.loads(io_.out)["events"] == len(events)


@pytest.mark.parametrize("name", ["events.csv", "events.tsv.gz"])
def test_a_retail_export_reads_under_its_own_column_names_without_a_mapping(tmp_path, capsys, name):
    """A retail dataset's columns (visitorid, event, timestamp in ms as text) are aliases of the canonical fields, in
    CSV and in TSV with a header row: the same model and scores as the events in canonical NDJSON."""
    events = ordinary_events(80, seed=9)
    rows = [{"timestamp": round(e["timestamp"] * 1000), "visitorid": e["user_id"], "event": e["event_type"],
             "itemid": 7, "transactionid": ""} for e in events]  # fmt: skip
    body = _csv(rows, ["timestamp", "visitorid", "event", "itemid", "transactionid"])
    if ".tsv" in name:
        body = body.replace(b",", b"\t")
    shaped = tmp_path / name
    shaped.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    canonical = tmp_path / "canonical.ndjson"
    canonical.write_bytes(ndjson([{k: v for k, v in e.items() if k != "outcome"} for e in events]))
    trained, scores = _train_and_score(capsys, tmp_path, {"ndjson": canonical, "shaped": shaped})
    assert trained["shaped"]["events"] == len(events) and trained["shaped"]["rejected"] == {}
    assert trained["shaped"]["thresholds"] == trained["ndjson"]["thresholds"]
    assert scores["shaped"] == scores["ndjson"]


@pytest.mark.parametrize(
    ("name", "codec"),
    [("sheet.tsv", "utf-16"), ("sheet.tsv.gz", "utf-16-be"), ("events.ndjson", "utf-16"), ("events.csv", "utf-16")],
)
def test_a_utf16_file_told_by_its_byte_order_mark_reads_as_the_same_events_in_utf8(tmp_path, capsys, name, codec):
    """Excel's "Unicode Text" export (UTF-16, little-endian, a byte-order mark, tabs, CRLF) and Windows PowerShell 5's
    ``>`` (UTF-16 NDJSON): the same model and scores as the UTF-8 file; a line with a lone surrogate is rejected
    alone."""
    events = ordinary_events(80, seed=12)
    rows = [{"timestamp": round(e["timestamp"] * 1000), "visitorid": e["user_id"], "event": e["event_type"]}
            for e in events]  # fmt: skip
    utf8 = _csv(rows, ["timestamp", "visitorid", "event"]) if ".ndjson" not in name else ndjson(events)
    if ".tsv" in name:
        utf8 = utf8.replace(b",", b"\t")
    bad = b"1763700000000,\xed\xa0\x80,view_item\r\n" if ".ndjson" not in name else b""
    text = (utf8 + bad.replace(b",", b"\t" if ".tsv" in name else b",")).decode("utf-8", "surrogatepass")
    body = (b"\xfe\xff" if codec == "utf-16-be" else b"") + text.encode(codec, "surrogatepass")
    assert body[:2] in (b"\xff\xfe", b"\xfe\xff")
    shaped, plain = tmp_path / name, tmp_path / ("plain" + name.removesuffix(".gz")[name.index(".") :])
    shaped.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    plain.write_bytes(utf8)
    trained, scores = _train_and_score(capsys, tmp_path, {"plain": plain, "shaped": shaped})
    assert trained["shaped"]["events"] == trained["plain"]["events"] == len(events)
    assert trained["shaped"]["rejected"] == ({"not_utf8": 1} if bad else {})
    assert trained["shaped"]["thresholds"] == trained["plain"]["thresholds"]
    assert scores["shaped"] == scores["plain"]


@pytest.mark.parametrize(
    ("name", "sep", "codec"),
    [("export.csv", ";", "utf-8"), ("export.csv", "|", "utf-8"), ("logs.txt", ",", "utf-8"),
     ("sheet.txt", "\t", "utf-16"), ("logs.csv.gz", ",", "utf-8")],
)  # fmt: skip
def test_a_delimited_file_is_told_by_its_header_and_the_notebook_s_logs_keep_their_failures(
    tmp_path, capsys, name, sep, codec
):
    """The header row tells the separator: a semicolon (spreadsheets where the comma is the decimal mark), a pipe,
    and a header under a name that says nothing (``.txt``: Excel's Unicode Text, a log of the notebook's columns).
    The notebook's (seed 001) ``time,user,path,status`` rows read as the same events as canonical NDJSON, failed
    logins included (``status`` is the outcome)."""
    events = ordinary_events(80, seed=13)
    assert any(e["outcome"] == "fail" for e in events)
    canonical = tmp_path / "canonical.ndjson"
    canonical.write_bytes(ndjson(events))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(["time", "user", "path", "status", "uidx", "realtype"])
    writer.writerows([format_ms(round(e["timestamp"] * 1000)), e["user_id"], e["event_type"], e["outcome"], k,
                      "buyer"] for k, e in enumerate(events))  # fmt: skip
    body = out.getvalue().encode(codec)
    shaped = tmp_path / name
    shaped.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    trained, scores = _train_and_score(capsys, tmp_path, {"ndjson": canonical, "shaped": shaped})
    assert trained["shaped"]["events"] == len(events) and trained["shaped"]["rejected"] == {}
    assert trained["shaped"]["thresholds"] == trained["ndjson"]["thresholds"]
    assert scores["shaped"] == scores["ndjson"]


@pytest.mark.parametrize(
    "shape",
    ["indented array", "wrapped", "one-line array", "blank line", "indented object", "indented objects", "jq pages"],
)
def test_a_json_document_file_reads_as_the_same_events_as_ndjson(tmp_path, capsys, shape):
    """Exports that are one JSON document (an array, pretty-printed or not; ``{"events": [...]}``), NDJSON with
    blank lines, and pretty-printed values one after another (``jq .``'s output; a generator's
    ``json.dump(event, f, indent=2)`` per event; rejected line by line until 11-30l): the same model and scores as
    the canonical NDJSON."""
    events = ordinary_events(80, seed=11)
    canonical = tmp_path / "canonical.ndjson"
    canonical.write_bytes(ndjson(events))
    body = {
        "indented array": json.dumps(events, indent=2),
        "wrapped": json.dumps({"count": len(events), "events": events}),
        "one-line array": json.dumps(events),
        "blank line": "\n\n".join(json.dumps(e) for e in events),
        "indented object": json.dumps({"events": events, "next": None}, indent=1),
        "indented objects": "\n".join(json.dumps(e, indent=2) for e in events) + "\n",
        "jq pages": "".join(json.dumps({"events": events[i : i + 30]}, indent=2) for i in range(0, len(events), 30)),
    }[shape]
    doc = tmp_path / "export.json"
    doc.write_text(body)
    trained, scores = _train_and_score(capsys, tmp_path, {"ndjson": canonical, "doc": doc})
    assert trained["doc"]["events"] == len(events) and trained["doc"]["rejected"] == {}
    assert trained["doc"]["thresholds"] == trained["ndjson"]["thresholds"]
    assert scores["doc"] == scores["ndjson"]


def test_one_event_with_a_list_of_objects_is_an_event_not_a_wrapper(tmp_path):
    from clickguard.files import event_lines, open_binary

    order = {"user_id": "u1", "event_type": "purchase", "timestamp": 1763700000, "items": [{"sku": 1}, {"sku": 2}]}
    path = tmp_path / "order.json"
    for body in (json.dumps(order), "\n" + json.dumps(order, indent=2)):  # on one line, and pretty-printed
        path.write_text(body)
        with open_binary(path) as fh:
            assert [json.loads(line) for line in event_lines(fh, path)] == [order]
    path.write_text(json.dumps({"data": [order, order], "next": None}, indent=2))  # an API's page of events
    with open_binary(path) as fh:
        assert [json.loads(line) for line in event_lines(fh, path)] == [order, order]


def test_a_json_document_that_does_not_parse_is_rejected_line_by_line(tmp_path, capsys):
    doc = tmp_path / "cut.json"
    doc.write_text(json.dumps(ordinary_events(5, seed=12), indent=2)[:-40])  # cut short
    with pytest.raises(SystemExit) as exc:
        main(["train", "-i", str(doc), "-o", str(tmp_path / "m")])
    assert exc.value.code == 2 and "'not_json': " in capsys.readouterr().err


def test_a_tsv_file_without_a_header_is_read_line_by_line_through_its_mapping(tmp_path, capsys):
    """A first line of data (a time in it) is no header: the lines are events, the mapping's tsv_columns name them."""
    events = ordinary_events(60, seed=10)
    path = tmp_path / "export.tsv"
    path.write_text("".join(f"{e['user_id']}\t{e['event_type']}\t{e['timestamp']}\n" for e in events))
    mapping = '{"tsv_columns": ["u", "e", "t"], "user_key": "u", "event_type": "e", "time": "t"}'
    code, io_ = run(capsys, "train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "5",
                    "--field-mapping", mapping)  # fmt: skip
    assert code == 0 and json.loads(io_.out)["events"] == len(events)


def test_a_w3c_extended_log_trains_and_scores_as_the_same_requests_in_an_access_log(tmp_path, capsys):
    """CloudFront's standard log (W3C extended, tab-separated, its documented #Fields, gzip as CloudFront delivers
    it) and the same requests as combined access log lines: the same model and the same scores."""
    from clickguard.cli.producer_formats import access_log_line

    events = [parse_record(json.dumps(e)) for e in ordinary_events(120, seed=13)]
    access = tmp_path / "access.log"
    access.write_bytes(b"".join(access_log_line(ev) + b"\n" for ev in events))
    fields = ("date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) "
              "cs(User-Agent) cs-uri-query")  # fmt: skip
    lines = ["#Version: 1.0", f"#Fields: {fields}"]
    for ev in events:
        when = format_ms(ev.ts_ms // 1000 * 1000)
        failed = ev.token.endswith("#fail")
        cells = (when[:10], when[11:19], "LAX1", "392", ev.user_key, "GET", "d1.cloudfront.net",
                 "/" + ev.token.removesuffix("#fail"), "401" if failed else "200", "-", "Mozilla/5.0", "-")  # fmt: skip
        lines.append("\t".join(cells))
    cloudfront = tmp_path / "E2QWRUHAPOMQZL.2019-12-04-21.d111111.gz"
    cloudfront.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    trained, scores = _train_and_score(capsys, tmp_path, {"access": access, "w3c": cloudfront})
    assert trained["w3c"]["events"] == len(events) and trained["w3c"]["rejected"] == {}
    assert trained["w3c"]["thresholds"] == trained["access"]["thresholds"]
    assert scores["w3c"] == scores["access"]


def test_a_web_server_s_access_log_trains_and_scores_as_its_events_in_ndjson(tmp_path, capsys):
    """An access log file as Apache or nginx writes it (combined format; what ``produce --format access_log`` puts
    on a stream): the same model and scores as the events it holds (each action a page, whole seconds), in NDJSON."""
    from clickguard.cli.producer_formats import access_log_line

    events = [parse_record(json.dumps(e)) for e in ordinary_events(120, seed=8)]
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(access_log_line(ev) + b"\n" for ev in events))
    held = [{"user_id": ev.user_key, "event_type": "/" + ev.token.removesuffix("#fail"), "timestamp": ev.ts_ms // 1000,
             "outcome": "fail" if ev.token.endswith("#fail") else "success"} for ev in events]  # fmt: skip
    twin = tmp_path / "twin.ndjson"
    twin.write_bytes(ndjson(held))
    trained, scores = _train_and_score(capsys, tmp_path, {"twin": twin, "log": log})
    assert trained["log"]["events"] == len(events) and trained["log"]["rejected"] == {}
    assert trained["log"]["thresholds"] == trained["twin"]["thresholds"]
    assert scores["log"] == scores["twin"] and scores["log"].count("\n") == 121


def test_train_with_a_labels_file_learns_the_supervised_part_from_its_abusers(tmp_path, capsys):
    """``--labels``: the abusers of a labels file (named as a data set names them) are the block list; the
    supervised part is fitted, and scoring the next day with it ranks that day's abusers higher than without."""

    code, _ = run(capsys, "simulate", "--days", "2", "--users", "1200", "--seed", "3", "--out", str(tmp_path / "sim"))
    assert code == 0
    day1, day2 = tmp_path / "sim" / "day-01.events.ndjson", tmp_path / "sim" / "day-02.events.ndjson"
    truth1 = list(csv.DictReader((tmp_path / "sim" / "day-01.labels.csv").open()))
    labels = tmp_path / "reviewed.csv"  # the same judgements under other names
    labels.write_text("client_id;is_fraud\n" + "".join(
        f"{r['user_id']};{'no' if r['user_type'] in ('buyer', 'seller') else 'yes'}\n" for r in truth1))  # fmt: skip
    code, out = run(capsys, "train", "-i", str(day1), "-o", str(tmp_path / "with"), "--labels", str(labels))
    assert code == 0
    report = json.loads(out.out)
    abusers = sum(r["user_type"] not in ("buyer", "seller") for r in truth1)
    assert report["labels"]["users"] == len(truth1) and report["labels"]["blocked"] == abusers > 0
    assert report["labels"]["read_as"] == {"benign": ["no"], "abnormal": ["yes"]}
    assert report["labels"]["column"] == "is_fraud" and report["labels"]["events_left_out"] > 0
    assert report["detector"]["supervised"] and report["detector"]["operating"]["labelled_users"] == abusers
    code, out = run(capsys, "train", "-i", str(day1), "-o", str(tmp_path / "without"))
    assert code == 0 and not json.loads(out.out)["detector"]["supervised"]
    quality = {}
    for name in ("with", "without"):
        code, out = run(capsys, "score", "--events", str(day2), "--model", str(tmp_path / name), "--out", "-",
                        "--labels", str(tmp_path / "sim" / "day-02.labels.csv"))  # fmt: skip
        assert code == 0
        quality[name] = json.loads(out.err[out.err.index("{") :])
        assert quality[name]["abusers"] > 0 and quality[name]["users_not_labelled"] == 0
    assert quality["with"]["average_precision"] > quality["without"]["average_precision"]
    assert quality["with"]["recall"] > quality["without"]["recall"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--local", "--labels", "x.csv"], "--labels goes with --input files"),
        (["--labels", "/nonexistent/labels.csv"], "--labels /nonexistent/labels.csv: no such file"),
    ],
)
def test_bad_labels_arguments_say_why_and_exit_2(tmp_path, events_file, capsys, argv, needle):
    if "--local" not in argv:
        argv = ["-i", str(events_file), "-o", str(tmp_path / "m"), *argv]
    with pytest.raises(SystemExit) as exc:
        main(["train", *argv])
    assert exc.value.code == 2 and needle in capsys.readouterr().err


def test_a_labels_file_without_a_label_column_is_refused_with_what_it_has(tmp_path, events_file, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("foo,bar,baz\n1,2,3\n")
    with pytest.raises(SystemExit) as exc:
        main(["train", "-i", str(events_file), "-o", str(tmp_path / "m"), "--labels", str(labels)])
    assert exc.value.code == 2 and "expected a header naming the user" in capsys.readouterr().err


def _labels_for(events_file, tmp_path, label_of) -> str:
    users = sorted({json.loads(line)["user_id"] for line in events_file.read_text().splitlines()[:-1]})
    path = tmp_path / "labels.csv"
    path.write_text("visitor_id,type\n" + "".join(f"{label_of(u)},{'guest'}\n" for u in users))
    return str(path)


@pytest.mark.parametrize(
    ("label_of", "needle"),
    [
        (lambda u: u, "every user of the events reads as an abuser (column 'type': 'guest')"),
        (lambda u: "V-" + u, "users is in the events (its 'visitor_id' column names 'V-user-"),
    ],
)
def test_labels_that_can_tell_nothing_about_the_window_are_refused_with_why(
    tmp_path, events_file, capsys, label_of, needle
):
    """A labels file whose every user of the window reads as an abuser (its words name no good user) would leave the
    normal model nobody to learn from; one that names none of the window's users has the wrong ids. Both once ended
    in "the training window holds no valid events" or a silent model without labels."""
    labels = _labels_for(events_file, tmp_path, label_of)
    with pytest.raises(SystemExit) as exc:
        main(["train", "-i", str(events_file), "-o", str(tmp_path / "m"), "--labels", labels])
    assert exc.value.code == 2 and needle in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "the file is empty: no event to read"),
        (b"user_id,event_type,timestamp\r\n", "only a header row ('user_id,event_type,timestamp'): no event under it"),
        # an unquoted cell holding the separator shifts every later cell under the wrong name
        (b"user_agent,user_id,event_type,timestamp\nMozilla/5.0 (X11, Linux),u1,view,2025-11-20T00:00:00Z\n",
         "1 rows have more cells than the header (4): quote the cells that hold the separator"),
        (b"user_id,event_type,timestamp\nu1,view,10/11/2025 13:00\n",
         "the first bad_timestamp: ambiguous date '10/11/2025 13:00': month/day or day/month?"),
        (b"user_id,event_type,time\nu1,view,1\n",  # a generator's counter, named time
         "the first bad_timestamp: timestamp '1' is outside 1990-2100"),
    ],
)  # fmt: skip
def test_a_file_with_no_valid_event_says_why_as_far_as_its_lines_tell(tmp_path, capsys, body, needle):
    path = tmp_path / "events.csv"
    path.write_bytes(body)
    with pytest.raises(SystemExit) as exc:
        main(["train", "-i", str(path), "-o", str(tmp_path / "m")])
    assert exc.value.code == 2 and needle in capsys.readouterr().err


def test_a_store_path_that_is_a_file_is_refused_before_training(tmp_path, events_file, capsys):
    taken = tmp_path / "afile"
    taken.write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["train", "-i", str(events_file), "-o", str(taken)])
    assert exc.value.code == 2 and f"--store/--out {taken}: a file, not a directory" in capsys.readouterr().err


def test_a_few_ragged_csv_rows_among_good_ones_are_named_on_stderr(tmp_path, capsys):
    rows = "".join(f"Mozilla,u{i % 7},view,2025-11-20T00:{i // 60:02d}:{i % 60:02d}Z\n" for i in range(400))
    path = tmp_path / "events.csv"
    path.write_text(
        "user_agent,user_id,event_type,timestamp\n" + rows + "Mozilla (X11, Linux),u1,view,2025-11-20T01:00:00Z\n"
    )
    assert main(["train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "1"]) == 0
    err = capsys.readouterr().err
    assert (
        "1 rows have more cells than the header (4): quote the cells that hold the separator; those rows' cells" in err
    )


def test_a_window_too_small_says_which_lines_were_rejected_and_the_summary_counts_copies(tmp_path, capsys):
    events = ordinary_events(30, seed=3)
    bad = [{**e, "timestamp": "2018-10-01T00:0:00"} for e in ordinary_events(60, seed=4)]  # a generator's minutes
    path = tmp_path / "events.ndjson"
    path.write_bytes(ndjson(events + bad))
    with pytest.raises(SystemExit) as exc:
        main(["train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "1000"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "not publishing: " in err
    assert f"these were rejected: bad_timestamp {len(bad):,} (the first: " in err
    copies = [{**e, "event_id": f"e{i}"} for i, e in enumerate(events)]
    path.write_bytes(ndjson(copies + copies[:5]))
    code, out = run(capsys, "train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "1")
    assert code == 0 and json.loads(out.out)["duplicates_dropped"] == 5


def test_a_log_whose_events_come_mostly_from_one_private_address_is_told_of_a_proxy_in_front(tmp_path, capsys):
    """A custom nginx format that puts X-Forwarded-For elsewhere than after the user agent: every client behind the
    load balancer was its address, one user, silently."""
    lines = [
        f'10.0.0.2 - - [30/Mar/2024:18:{i // 60:02d}:{i % 60:02d} +0000] "GET /p/{i % 7} HTTP/1.1" 200 10 "-" "x" '
        f'rt=0.1 xff="81.2.3.{i % 50}"\n'
        for i in range(300)
    ]
    path = tmp_path / "access.log"
    path.write_text("".join(lines))
    main(["train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "1"])
    err = capsys.readouterr().err
    assert "300 of 300 of the events come from one private address: a load balancer or proxy in front" in err
    path.write_text("".join(line.replace("10.0.0.2", f"81.2.4.{i % 9}") for i, line in enumerate(lines)))
    main(["train", "-i", str(path), "-o", str(tmp_path / "m2"), "--min-sessions", "1"])
    assert "private address" not in capsys.readouterr().err
