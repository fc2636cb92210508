"""The challenge's file format (issue 12): the parameters line, event lines, malformed lines, the output line, and
``clickguard network`` on small hand-checked files (in process; tests/e2e runs the installed command)."""

from __future__ import annotations

import json
import os

import pytest

from clickguard.cli.main import main
from clickguard.network.baseline import Baseline
from clickguard.network.challenge import BadParameters, LineParser, MalformedLine, flagged_line, read_parameters
from clickguard.network.flags import PurchaseFlag
from clickguard.network.step import Kind

SAMPLE_BATCH = """{"D":"3", "T":"50"}
{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "1", "amount": "16.83"}
{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "1", "amount": "59.28"}
{"event_type":"befriend", "timestamp":"2017-06-13 11:33:01", "id1": "1", "id2": "2"}
{"event_type":"befriend", "timestamp":"2017-06-13 11:33:01", "id1": "3", "id2": "1"}
{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "1", "amount": "11.20"}
{"event_type":"unfriend", "timestamp":"2017-06-13 11:33:01", "id1": "1", "id2": "3"}"""
SAMPLE_STREAM = '{"event_type":"purchase", "timestamp":"2017-06-13 11:33:02", "id": "2", "amount": "1601.83"}'
# The challenge's published flagged_purchases.json, byte for byte (one line, a newline at its end).
SAMPLE_OUT = (
    '{"event_type": "purchase", "timestamp": "2017-06-13 11:33:02", "id": "2", "amount": "1601.83", '
    '"mean": "29.10", "sd": "21.46"}\n'
)


@pytest.mark.parametrize(
    ("line", "want"),
    [('{"D":"3", "T":"50"}', (3, 50)), ('{"T": 2, "D": 1}', (1, 2)), (b'{"D": " 2 ", "T": "10"}', (2, 10))],
)
def test_the_parameters_line_gives_d_and_t(line, want):
    assert read_parameters(line) == want


@pytest.mark.parametrize(
    ("line", "message"),
    [('{"D":"0", "T":"50"}', "D must be >= 1"), ('{"D":"1", "T":"1"}', "T must be >= 2"),
     ('{"D":"-1", "T":"50"}', "D must be >= 1, got -1"), ('{"D":"1", "T":" -2 "}', "T must be >= 2, got -2"),
     ('{"D":-1, "T":5}', "D must be >= 1, got -1"), ('{"D":"' + "9" * 5000 + '", "T":"5"}', "D is too large"),
     ('{"D":"-", "T":"5"}', "D must be a whole number"), ('{"D":"1", "T":"5 0"}', "T must be a whole number"),
     ('{"D":"1"}', "must be {"), ("D=1 T=2", "not JSON"), ('{"D":"two", "T":"5"}', "D must be a whole number"),
     ('{"D":1.5, "T":5}', "D must be a whole number"), ('{"event_type":"purchase"}', "must be {")],
)  # fmt: skip
def test_a_bad_parameters_line_says_what_is_wrong(line, message):
    with pytest.raises(BadParameters, match=message.replace("{", r"\{")):
        read_parameters(line)


def test_event_lines_become_step_events_at_their_line_positions():
    parser = LineParser()
    ev, obj = parser.parse(b'{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": 7, "amount": "5"}', 9)
    assert (ev.kind, ev.user_key, ev.cents, ev.seq, ev.ts_ms) == (Kind.PURCHASE, "7", 500, 9, 1_497_353_581_000)
    assert list(obj) == ["event_type", "timestamp", "id", "amount"]
    ev, _ = parser.parse('{"event_type":"unfriend", "timestamp":"2017-06-13 11:33:01", "id1": "1", "id2": "3"}', 10)
    assert (ev.kind, ev.user_key, ev.friend_key) == (Kind.UNFRIEND, "1", "3")


@pytest.mark.parametrize(
    ("line", "reason"),
    [(b"{not json", "not JSON"), (b"\xff\xfe", "not JSON"), (b"[1, 2]", "not a JSON object"),
     (b'{"event_type":["purchase"], "timestamp":"2017-06-13 11:33:01", "id": "1"}', "unknown event_type"),
     (b'{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "1", "amount": "1.00", "x": NaN}',
      "not JSON"),
     (b'{"event_type":"refund", "timestamp":"2017-06-13 11:33:01", "id": "1"}', "unknown event_type"),
     (b'{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "amount": "1.00"}', "missing_id"),
     (b'{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "", "amount": "1.00"}', "missing_id"),
     (b'{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": 1.5, "amount": "1.00"}', "bad_id"),
     (b'{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "1", "amount": "1.005"}',
      "amount has more than 2 decimals"),
     (b'{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "1"}', "amount is missing"),
     (b'{"event_type":"purchase", "timestamp":"yesterday", "id": "1", "amount": "1.00"}', "bad_timestamp"),
     (b'{"event_type":"purchase", "id": "1", "amount": "1.00"}', "missing_timestamp"),
     (b'{"event_type":"befriend", "timestamp":"2017-06-13 11:33:01", "id1": "1", "id2": true}', "bad_id2"),
     (b'{"event_type":"unfriend", "timestamp":"2017-06-13 11:33:01", "id1": "1", "id2": null}', "missing_id2"),
     (b'{"event_type":"befriend", "timestamp":"2017-06-13 11:33:01", "id1": {"x": 1}, "id2": "2"}', "bad_id1")],
)  # fmt: skip
def test_malformed_lines_are_refused_with_a_reason_that_never_quotes_the_line(line, reason):
    with pytest.raises(MalformedLine) as caught:
        LineParser().parse(line, 1)
    assert str(caught.value) == reason


def _flag(mean_sd_of: list[int]) -> PurchaseFlag:
    baseline = Baseline.of(mean_sd_of)
    assert baseline is not None
    return PurchaseFlag("2", 160_183, baseline, 1, 3, 50, 0, "file", 8)


def test_the_flagged_line_keeps_the_input_key_order_and_appends_mean_and_sd():
    original = json.loads(SAMPLE_STREAM)
    assert flagged_line(original, _flag([1683, 5928, 1120])) + "\n" == SAMPLE_OUT


def test_extra_input_fields_stay_and_a_mean_or_sd_already_there_is_replaced_at_the_end():
    original = {"mean": "x", "event_type": "purchase", "id": "ü", "amount": "1601.83", "note": [1, 2]}
    line = flagged_line(original, _flag([1683, 5928, 1120]))
    assert line == (
        '{"event_type": "purchase", "id": "ü", "amount": "1601.83", "note": [1, 2], "mean": "29.10", "sd": "21.46"}'
    )


def run_cli(tmp_path, batch: str | bytes, stream: str | bytes, *extra: str) -> tuple[int, bytes]:
    for name, text in (("batch_log.json", batch), ("stream_log.json", stream)):
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "flagged_purchases.json"
    code = main(
        ["network", "--batch", str(tmp_path / "batch_log.json"), "--stream", str(tmp_path / "stream_log.json"),
         "--out", str(out), *extra]
    )  # fmt: skip
    return code, out.read_bytes()


def test_the_challenge_sample_gives_its_published_output_byte_for_byte(tmp_path):
    assert run_cli(tmp_path, SAMPLE_BATCH, SAMPLE_STREAM) == (0, SAMPLE_OUT.encode())


def test_nothing_flagged_leaves_an_empty_file(tmp_path):
    assert run_cli(tmp_path, SAMPLE_BATCH, SAMPLE_STREAM.replace("1601.83", "30.00")) == (0, b"")


def test_malformed_and_blank_lines_are_skipped_and_counted_on_stderr(tmp_path, capsys):
    stream = "\n".join(["", "{oops", '{"event_type":"refund", "timestamp":"2017-06-13 11:33:02", "id": "2"}',
                        SAMPLE_STREAM, "   "])  # fmt: skip
    assert run_cli(tmp_path, SAMPLE_BATCH, stream) == (0, SAMPLE_OUT.encode())
    err = capsys.readouterr().err
    assert "2 malformed lines skipped" in err
    assert "not JSON: 1" in err and "unknown event_type: 1" in err
    assert "stream_log.json:2: not JSON" in err


def test_skip_reasons_for_ids_are_named_as_the_timestamp_ones_are(tmp_path, capsys):
    stream = "\n".join(['{"event_type":"purchase", "timestamp":"2017-06-13 11:33:02", "amount": "1.00"}',
                        '{"event_type":"befriend", "timestamp":"2017-06-13 11:33:02", "id1": "1", "id2": []}',
                        '{"event_type":"purchase", "id": "1", "amount": "1.00"}', SAMPLE_STREAM])  # fmt: skip
    assert run_cli(tmp_path, SAMPLE_BATCH, stream) == (0, SAMPLE_OUT.encode())
    err = capsys.readouterr().err
    assert "missing_id: 1" in err and "bad_id2: 1" in err and "missing_timestamp: 1" in err


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("where", ["batch", "stream"])
def test_a_utf8_byte_order_mark_at_a_files_start_is_read_as_nothing(tmp_path, capsys, where):
    """Windows editors write one: the batch's parameters line and the stream's first event still read."""
    batch = (BOM if where == "batch" else b"") + SAMPLE_BATCH.encode()
    stream = (BOM if where == "stream" else b"") + SAMPLE_STREAM.encode()
    assert run_cli(tmp_path, batch, stream) == (0, SAMPLE_OUT.encode())
    assert "0 malformed lines skipped" in capsys.readouterr().err


def test_json_numbers_a_float_noise_off_whole_cents_count_as_those_cents(tmp_path, capsys):
    """16.829999999999995 and 59.279999999999994 (one float step from 16.83 and 59.28), 11.200000000000001
    (0.1 * 112): the sample's baseline, so its mean and sd; skipping them would have left no baseline at all."""
    batch = (SAMPLE_BATCH.replace('"16.83"', "16.829999999999995").replace('"59.28"', "59.279999999999994")
             .replace('"11.20"', "11.200000000000001"))  # fmt: skip
    assert batch != SAMPLE_BATCH
    assert run_cli(tmp_path, batch, SAMPLE_STREAM) == (0, SAMPLE_OUT.encode())
    assert "0 malformed lines skipped" in capsys.readouterr().err


def test_an_amount_string_with_a_third_decimal_is_still_skipped(tmp_path, capsys):
    stream = SAMPLE_STREAM.replace('"1601.83"', '"1601.835"')
    assert run_cli(tmp_path, SAMPLE_BATCH, stream) == (0, b"")
    assert "amount has more than 2 decimals: 1" in capsys.readouterr().err


def test_any_chunk_size_gives_the_same_output(tmp_path):
    batch = "\n".join([SAMPLE_BATCH, *(SAMPLE_BATCH.splitlines()[1:] * 3)])
    stream = "\n".join([SAMPLE_STREAM, SAMPLE_STREAM.replace('"2"', '"3"'), SAMPLE_STREAM])
    whole = run_cli(tmp_path, batch, stream)
    assert whole[1].count(b"\n") == 2
    assert run_cli(tmp_path, batch, stream, "--chunk", "1") == whole


@pytest.mark.parametrize(
    ("batch", "message"),
    [("", "empty"), ('{"D":"0", "T":"5"}', "batch_log.json:1: D must be >= 1"),
     (SAMPLE_STREAM, 'must be {"D"')],
)  # fmt: skip
def test_a_bad_batch_file_exits_2_with_the_reason(tmp_path, capsys, batch, message):
    with pytest.raises(SystemExit) as caught:
        run_cli(tmp_path, batch, SAMPLE_STREAM)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_input_file_exits_2_and_names_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["network", "--batch", str(tmp_path / "nope.json"), "--stream", "x", "--out", str(tmp_path / "o")])
    assert caught.value.code == 2
    assert "--batch" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("option", ["--batch", "--stream"])
@pytest.mark.parametrize(("kind", "message"), [("dir", "a directory, not a file"),
                                               ("fifo", "a pipe or a device, not a file")])  # fmt: skip
def test_an_input_path_that_is_no_file_says_what_it_is(tmp_path, capsys, option, kind, message):
    (tmp_path / "batch_log.json").write_text(SAMPLE_BATCH)
    (tmp_path / "stream_log.json").write_text(SAMPLE_STREAM)
    odd = tmp_path / kind
    if kind == "dir":
        odd.mkdir()
    else:
        os.mkfifo(odd)  # never opened: no writer is needed
    paths = {"--batch": str(tmp_path / "batch_log.json"), "--stream": str(tmp_path / "stream_log.json"), option: odd}
    with pytest.raises(SystemExit) as caught:
        main(["network", *(str(x) for kv in paths.items() for x in kv), "--out", str(tmp_path / "o")])
    assert caught.value.code == 2
    assert f"{option} {odd}: {message}" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
