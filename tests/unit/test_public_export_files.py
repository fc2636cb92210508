"""Public datasets' exports as a team has them (a tester's samples, written from each dataset's published schema):
PostHog's CSV export with its nested fields flattened into dotted columns, process-mining CSVs whose names hold
colons, an XES (XML) log, a split export's later part without its header, a session's events with no action, a
model trained with a partial block list that falls back to the alert budget."""

from __future__ import annotations

import io
import json

import pytest

from clickguard import files
from clickguard.cli.main import main
from clickguard.events import parse_object
from clickguard.files import header_delimiter
from clickguard.rejections import Reason, RejectedRecord
from tests.cli_support import cli_fails

T0 = "2024-01-01T12:07:04.167Z"


# 1. A flattened export's nested page: PostHog's CSV writes ``properties.$current_url`` as a column of its own


def test_a_page_view_reads_its_page_from_a_flattened_column_as_from_the_nested_field():
    nested = {"event": "$pageview", "distinct_id": "d1", "timestamp": T0,
              "properties": {"$current_url": "https://shop.example/basket.html"}}  # fmt: skip
    flat = {"event": "$pageview", "distinct_id": "d1", "timestamp": T0,
            "properties.$current_url": "https://shop.example/basket.html"}  # fmt: skip
    assert parse_object(flat).token == parse_object(nested).token == "/basket.html"
    context = {**flat, "properties.$current_url": "", "context.page.path": "/cart/55"}  # another name, another level
    assert parse_object(context).token == "/cart/*"
    plain = {"event": "$pageview", "distinct_id": "d1", "timestamp": T0, "properties.$browser": "Chrome"}
    assert parse_object(plain).token == "$pageview"  # no page anywhere: the kind of event stays the action


def test_a_posthog_csv_export_scores_as_its_jsonl_export_does(tmp_path, capsys):
    rows = []
    for u in range(40):
        for i, page in enumerate(["/", "/products", "/products/12", "/basket.html", "/checkout"][: 2 + u % 4]):
            rows.append((f"e{u}-{i}", "$pageview", f"https://shop.example{page}", f"s{u}", f"d{u}",
                         f"2024-01-01T{10 + u % 8:02d}:{i:02d}:0{u % 10}Z"))  # fmt: skip
    jsonl, csv_ = tmp_path / "export.jsonl", tmp_path / "export.csv"
    nested = [{"uuid": e, "event": k, "properties": {"$current_url": p, "$session_id": s}, "distinct_id": d,
               "timestamp": t} for e, k, p, s, d, t in rows]  # fmt: skip
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in nested))
    header = "uuid,event,properties.$current_url,properties.$session_id,distinct_id,timestamp\n"
    csv_.write_text(header + "".join(",".join(r) + "\n" for r in rows))
    assert main(["train", "-i", str(jsonl), "-o", str(tmp_path / "m"), "--min-sessions", "10"]) == 0
    read = {}
    for name, path in (("jsonl", jsonl), ("csv", csv_)):
        capsys.readouterr()
        argv = ["score", "--events", str(path), "--model", str(tmp_path / "m"), "--out", str(tmp_path / name)]
        assert main(argv) == 0
        assert "warning" not in capsys.readouterr().err
        read[name] = (tmp_path / name).read_text()
    assert read["csv"] == read["jsonl"]


# 2. A session's events with no action: said so, under the verdict a wrapper of events is looked for by


@pytest.mark.parametrize(
    ("record", "lacks"),
    [({"session_id": "1", "timestamp": T0, "item_id": "214536502", "category": "0"}, "no event type"),
     ({"session_id": "1", "event_type": "view", "page": "3"}, "no time")],
)  # fmt: skip
def test_a_session_s_event_without_an_action_or_a_time_says_which_it_lacks(record, lacks):
    with pytest.raises(RejectedRecord) as exc:
        parse_object(record)
    assert exc.value.reason == Reason.MISSING_USER_KEY and f"{lacks} for its session's visitor" in exc.value.detail
    with pytest.raises(RejectedRecord) as exc:  # no session either: no user, as before
        parse_object({"timestamp": T0, "item_id": "214536502"})
    assert exc.value.detail == "no user id (or device token) in the record"


# 3. Names with colons: process mining's XES attributes as pm4py writes them to CSV


def test_a_header_whose_names_hold_colons_is_a_header_and_its_columns_are_listed(tmp_path, capsys):
    assert header_delimiter(b"case:concept:name,concept:name,time:timestamp\n") == ","
    assert header_delimiter(b"case-1,A_SUBMITTED,2011-10-01 00:38:44\n") is None
    path = tmp_path / "bpi.csv"
    path.write_text("case:concept:name,concept:name,org:resource,time:timestamp\n"
                    "173688,A_SUBMITTED,112,2011-10-01 00:38:44.546+02:00\n")  # fmt: skip
    cli_fails(capsys, ["train", "-i", path, "-o", tmp_path / "m"],
              "case:concept:name, concept:name, org:resource, time:timestamp", absent=["row of data"])  # fmt: skip


def test_a_header_s_every_column_is_listed_not_only_those_its_first_row_fills(tmp_path, capsys):
    path = tmp_path / "coveo.csv"
    path.write_text("session_id_hash,event_type,product_action,product_sku_hash,server_timestamp_epoch_ms\n"
                    "00f9,pageview,,,1550885210881\n")  # fmt: skip
    cli_fails(capsys, ["train", "-i", path, "-o", tmp_path / "m"], "product_action, product_sku_hash")


# 4. Markup: an XES log, an error page saved in an export's place


@pytest.mark.parametrize(
    ("head", "said"),
    [(b'<?xml version="1.0" encoding="UTF-8" ?>\n<log xes.version="1.0">\n\t<trace>\n', "an XES event log"),
     (b'<log xes.version="1.0" xmlns="http://www.xes-standard.org/">\n\t<trace>\n', "an XES event log"),
     (b'<table border="1" class="dataframe">\n  <thead>\n', "an HTML page"),
     (b"\xef\xbb\xbf\n  <?XML version='1.0'?><log/>", "an XES event log"),
     (b"<!DOCTYPE html>\n<html><body>403 Forbidden</body></html>\n", "an HTML page"),
     (b"<HTML>\n<head><title>Error</title>", "an HTML page")],
)  # fmt: skip
def test_markup_is_named_with_what_to_do_not_read_as_tab_separated_events(tmp_path, capsys, head, said):
    assert said in (files.container_kind(head) or "")
    path = tmp_path / "log.xes"
    path.write_bytes(head + b'\t\t<string key="concept:name" value="A"/>\n')
    cli_fails(capsys, ["train", "-i", path, "-o", tmp_path / "m"], said, absent=["bad_tsv", "Snowplow"])


def test_a_json_or_csv_file_is_no_markup():
    for head in (b'{"user_id": "<html>"}\n', b"user_id,event_type\n<html>,view\n", b"[]", b"<34>Oct 11 22:14:15 h"):
        assert files.container_kind(head) is None


# 5. A split export: its later part has no header, and says so by its name


def test_a_later_part_of_a_split_export_without_its_header_is_named(tmp_path, capsys):
    header = "event_time,event_type,product_id,user_id,user_session\n"
    rows = [f"2019-10-01 00:{i // 60:02d}:{i % 60:02d} UTC,view,{1000 + i % 9},{i % 30},s{i % 30}\n"
            for i in range(600)]  # fmt: skip
    first, second = tmp_path / "part_aa.csv", tmp_path / "part_ab.csv"
    first.write_text(header + "".join(rows[:300]))
    second.write_text("".join(rows[300:]))
    assert main(["train", "-i", str(first), "-i", str(second), "-o", str(tmp_path / "m"), "--min-sessions", "5"]) == 0
    err = capsys.readouterr().err
    assert f"{second}: its first line is a row of data, not a header" in err and "split file" in err
    assert f"{first}: its first line" not in err


# 6. Labels whose held-out precision cannot reach the target: the budget sets the cut, and the summary says so


def test_training_with_labels_that_cannot_show_the_target_precision_says_the_budget_sets_the_cut(tmp_path, capsys):
    from tests.factories import ordinary_events

    events = tmp_path / "e.ndjson"
    events.write_text("".join(json.dumps(e) + "\n" for e in ordinary_events(120, seed=3)))
    users = sorted({json.loads(line)["user_id"] for line in events.read_text().splitlines()})
    labels = tmp_path / "labels.csv"
    labels.write_text("user_id,label\n" + "".join(f"{u},blocked\n" for u in users[::9]))  # ordinary users: no signal
    assert main(["train", "-i", str(events), "-o", str(tmp_path / "m"), "--labels", str(labels),
                 "--target-precision", "0.99"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    operating = json.loads(captured.out)["detector"]["operating"]
    assert operating["rule"] == "budget", operating
    assert "note: no cut flagging at most 25% of the users showed precision 0.99" in captured.err
    assert "the alert budget (2.0% of the users) sets the cut" in captured.err
    assert main(["train", "-i", str(events), "-o", str(tmp_path / "m2")]) == 0  # no labels: nothing to say
    assert "note:" not in capsys.readouterr().err


# 7. A headerless CSV named by --columns (Taobao's UserBehavior.csv: user, item, category, behaviour, epoch seconds)


def _taobao(n: int) -> str:
    kinds = ["pv", "pv", "pv", "cart", "fav", "buy"]
    return "".join(f"{100 + i % 40},{2523410 + i},{4690421 + i % 7},{kinds[i % 6]},{1511539888 + 37 * i}\n"
                   for i in range(n))  # fmt: skip


def test_columns_name_a_headerless_file_s_rows_and_its_first_line_is_a_row_too():
    body = _taobao(3).encode()
    rows = [json.loads(r) for r in files.event_lines(io.BytesIO(body), "ub.csv", columns=("user_id", "", "c", "x"))]
    assert [r["user_id"] for r in rows] == ["100", "101", "102"]  # the first line read, not taken for a header
    assert rows[0] == {
        "user_id": "100",
        "c": "4690421",
        "x": "pv",
    }  # an unnamed column is left unread, as past the names
    notes: list[str] = []
    headed = b"user_id,item,kind,timestamp\nu1,1,view,1511539888\n"
    rows = list(files.event_lines(io.BytesIO(headed), "h.csv", notes=notes, columns=("a", "b", "c", "d")))
    assert [json.loads(r) for r in rows] == [{"user_id": "u1", "item": "1", "kind": "view", "timestamp": "1511539888"}]
    assert notes == []  # the CLI says so, once a file (below)
    semicolons = _taobao(2).replace(",", ";").encode()  # a spreadsheet's, where the comma is the decimal mark
    rows = [json.loads(r) for r in files.event_lines(io.BytesIO(semicolons), "ub.csv", columns=tuple("abcde"))]
    assert [r["a"] for r in rows] == ["100", "101"] and rows[0]["d"] == "pv"


def test_train_and_score_read_a_headerless_file_by_columns_as_the_same_file_with_a_header(tmp_path, capsys):
    names = "user_id,item_id,category_id,event_type,timestamp"
    bare, headed = tmp_path / "UserBehavior.csv", tmp_path / "headed.csv"
    bare.write_text(_taobao(3000))
    headed.write_text(names + "\n" + _taobao(3000))
    out = {}
    for name, argv in (("bare", ["-i", str(bare), "--columns", names]), ("headed", ["-i", str(headed)])):
        assert main(["train", *argv, "-o", str(tmp_path / name), "--min-sessions", "5"]) == 0
        out[name] = json.loads(capsys.readouterr().out)
        scored = str(tmp_path / f"{name}-scores.csv")
        score = ["score", "--events", *argv[1:], "--model", str(tmp_path / name), "--out", scored]
        assert main(score) == 0
    assert out["bare"]["version"] == out["headed"]["version"] and out["bare"]["events"] == 3000
    assert (tmp_path / "bare-scores.csv").read_text() == (tmp_path / "headed-scores.csv").read_text()
    err = cli_fails(capsys, ["train", "-i", bare, "-o", tmp_path / "m"], "--columns", "row of data")
    assert "user_id,item_id,event_type,timestamp" in err


def test_columns_read_a_dat_file_and_say_once_when_a_file_has_a_header_of_its_own(tmp_path, capsys):
    names = "user_id,item_id,category_id,event_type,timestamp"
    dat, headed = tmp_path / "clicks.dat", tmp_path / "headed.csv"
    dat.write_text(_taobao(1500))
    headed.write_text(names + "\n" + _taobao(1500).replace("\n100,", "\n900,"))
    argv = ["train", "-i", str(dat), "-i", str(headed), "--columns", names, "-o", str(tmp_path / "m")]
    assert main([*argv, "--min-sessions", "5"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["events"] == 3000 and json.loads(out)["rejected"] == {}
    assert err.count("its first line is a header: read under it, not under --columns") == 1
    assert f"{headed}: its first line is a header" in err


def test_a_file_read_under_columns_that_yields_nothing_lists_the_columns_not_advice_to_name_them(tmp_path, capsys):
    path = tmp_path / "ub.csv"
    path.write_text(_taobao(20))
    argv = ["train", "-i", path, "--columns", "user_id,,timestamp", "-o", tmp_path / "m"]
    said = "its columns as --columns named them: user_id, timestamp"
    err = cli_fails(capsys, argv, said, absent=["name them with --columns"])
    assert "row of data" not in err


@pytest.mark.parametrize(
    "first",
    ["fe80::1c2b:3aff:fe4d:5e6f,login,Tue Jan 01 00:22:32 2019\n", "alice,login,Thu Oct 10 20:55:36 UTC 2024\n",
     "user:7,view,2024-01-01T10:00:00Z\n"],
)  # fmt: skip
def test_a_row_whose_cells_hold_colons_of_times_or_addresses_is_no_header(first):
    assert header_delimiter(first.encode()) is None


@pytest.mark.parametrize(
    ("given", "said"),
    [("user_id", "separated by commas"), (",,", "separated by commas"), ("a,b,a", "names the column 'a' twice")],
)
def test_bad_columns_are_refused_saying_why(tmp_path, capsys, given, said):
    cli_fails(capsys, ["train", "-i", tmp_path / "e.csv", "--columns", given, "-o", tmp_path / "m"], said)


# 8. Which columns were read, said when they are not the canonical names


def test_train_and_score_say_which_columns_they_read_when_the_names_were_guessed(tmp_path, capsys):
    rr = tmp_path / "events.csv"  # Retailrocket's events.csv
    rr.write_text("timestamp,visitorid,event,itemid,transactionid\n" + "".join(
        f"{1433221332117 + 61_000 * i},{257597 + i % 25},{['view', 'addtocart', 'view'][i % 3]},{355908 + i},\n"
        for i in range(900)))  # fmt: skip
    assert main(["train", "-i", str(rr), "-o", str(tmp_path / "m"), "--min-sessions", "5"]) == 0
    said = "read user <- 'visitorid', action <- 'event', time <- 'timestamp' (epoch milliseconds)"
    assert f"--input {rr}: {said}" in capsys.readouterr().err
    assert main(["score", "--events", str(rr), "--model", str(tmp_path / "m"), "--out", str(tmp_path / "s.csv")]) == 0
    assert f"--events {rr}: {said}" in capsys.readouterr().err
    eshop = tmp_path / "eshop.csv"  # UCI's e-shop clothing 2008, a time added: a session id of 1 is also a day of 1
    rows = [
        f"2008;4;1;{1 + i % 3};{1 + i // 3};{1 + (i + 1) % 4};{1 + i % 5};{1207000000 + 40 * i}\n" for i in range(600)
    ]
    eshop.write_text("year;month;day;order;session ID;page 1 (main category);page;timestamp\n" + "".join(rows))
    assert main(["train", "-i", str(eshop), "-o", str(tmp_path / "m2"), "--min-sessions", "5"]) == 0
    err = capsys.readouterr().err
    assert (
        "read user <- 'session ID' (a session: its visitor), action <- 'page', time <- 'timestamp' (epoch seconds)"
        in err
    )


def test_canonical_names_are_not_said(tmp_path, capsys):
    path = tmp_path / "e.csv"
    path.write_text(
        "user_id,event_type,timestamp\n" + "".join(f"u{i % 20},view,{1763700000 + 30 * i}\n" for i in range(400))
    )
    assert main(["train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "5"]) == 0
    assert " read user <- " not in capsys.readouterr().err


def test_a_row_of_more_or_fewer_cells_than_columns_names_is_said(tmp_path, capsys):
    path = tmp_path / "ub.csv"
    path.write_text(_taobao(600))
    argv = ["train", "-i", str(path), "-o", str(tmp_path / "m"), "--min-sessions", "5", "--columns"]
    assert main([*argv, "user_id,item_id,category_id,event_type,timestamp,extra"]) == 0
    assert "its first row has 5 cells, --columns names 6: the last names get no cell" in capsys.readouterr().err
    assert main([*argv, "user_id,item_id,category_id,event_type,timestamp"]) == 0
    assert "cells, --columns names" not in capsys.readouterr().err
