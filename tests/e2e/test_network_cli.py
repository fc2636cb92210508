"""``clickguard network`` as a user runs it (issue 12): the installed command in a subprocess, on the challenge's own
sample, on a case worked out by hand, and on a generated log checked against the naive rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.network_baseline import NaiveNetwork
from bench.network_data import LogShape, challenge_events, challenge_files

SAMPLE_BATCH = """{"D":"3", "T":"50"}
{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "1", "amount": "16.83"}
{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "1", "amount": "59.28"}
{"event_type":"befriend", "timestamp":"2017-06-13 11:33:01", "id1": "1", "id2": "2"}
{"event_type":"befriend", "timestamp":"2017-06-13 11:33:01", "id1": "3", "id2": "1"}
{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "1", "amount": "11.20"}
{"event_type":"unfriend", "timestamp":"2017-06-13 11:33:01", "id1": "1", "id2": "3"}
"""
SAMPLE_STREAM = '{"event_type":"purchase", "timestamp":"2017-06-13 11:33:02", "id": "2", "amount": "1601.83"}\n'
SAMPLE_OUT = (
    b'{"event_type": "purchase", "timestamp": "2017-06-13 11:33:02", "id": "2", "amount": "1601.83", '
    b'"mean": "29.10", "sd": "21.46"}\n'
)

# D = 2, T = 2, worked out by hand (the comments give each purchase's network and its last two purchases).
HAND_BATCH = """{"D":"2", "T":"2"}
{"event_type":"befriend", "timestamp":"2017-06-13 11:33:01", "id1": "1", "id2": "2"}
{"event_type":"befriend", "timestamp":"2017-06-13 11:33:01", "id1": "2", "id2": "3"}
{"event_type":"befriend", "timestamp":"2017-06-13 11:33:01", "id1": "3", "id2": "4"}
{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "2", "amount": "10.00"}
{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "3", "amount": "20.00"}
{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "4", "amount": "40.00"}
{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "3", "amount": "30.00"}
"""
HAND_STREAM = [
    # {2, 3}: 20 and 30 (equal timestamps: the later lines) -> mean 25, sd 5; 100 > 40: flagged
    '{"event_type":"purchase", "timestamp":"2017-06-13 11:33:02", "id": "1", "amount": "100.00"}',
    '{"event_type":"unfriend", "timestamp":"2017-06-13 11:33:02", "id1": "2", "id2": "3"}',
    # {2}: one purchase, nothing flagged
    '{"event_type":"purchase", "timestamp":"2017-06-13 11:33:02", "id": "1", "amount": "12.00"}',
    # {1}: 100 and 12 -> mean 56, sd 44
    '{"event_type":"purchase", "timestamp":"2017-06-13 11:33:02", "id": "2", "amount": "50.00"}',
    '{"event_type":"befriend", "timestamp":"2017-06-13 11:33:02", "id1": "4", "id2": "1"}',
    # a late timestamp; {4, 1}: 100 and 12 (11:33:02 beats 40 at :01) -> mean 56, sd 44
    '{"event_type":"purchase", "timestamp":"2017-06-13 11:33:01", "id": "3", "amount": "9.99"}',
    # {3, 1, 2}: 12 and 50 (the last two at :02) -> mean 31, sd 19; 300 > 88: flagged
    '{"event_type":"purchase", "timestamp":"2017-06-13 11:33:03", "id": "4", "amount": "300.00"}',
    # {1, 4}: 300 (:03) and 12 (the later of the :02 ones) -> mean 156, sd 144
    '{"event_type":"purchase", "timestamp":"2017-06-13 11:33:03", "id": "2", "amount": "33.35"}',
    "",
    # {2, 4, 3}: 300 and 33.35 -> mean 166.675, sd 133.325, truncated to 166.67 and 133.32; 1000 > 566.65: flagged
    '{"event_type":"purchase", "timestamp":"2017-06-13 11:33:04", "id": "1", "amount": "1000.00"}',
    '{"event_type":"purchase", "timestamp":"2017-06-13 11:33:05", "id": "1"}',  # malformed: no amount
]
HAND_OUT = (
    b'{"event_type": "purchase", "timestamp": "2017-06-13 11:33:02", "id": "1", "amount": "100.00", '
    b'"mean": "25.00", "sd": "5.00"}\n'
    b'{"event_type": "purchase", "timestamp": "2017-06-13 11:33:03", "id": "4", "amount": "300.00", '
    b'"mean": "31.00", "sd": "19.00"}\n'
    b'{"event_type": "purchase", "timestamp": "2017-06-13 11:33:04", "id": "1", "amount": "1000.00", '
    b'"mean": "166.67", "sd": "133.32"}\n'
)


def clickguard_network(
    tmp_path: Path, batch: str, stream: str, out_path: str = "log_output/flagged_purchases.json"
) -> tuple[subprocess.CompletedProcess[str], bytes]:
    (tmp_path / "log_input").mkdir()
    (tmp_path / "log_output").mkdir()
    (tmp_path / "log_input" / "batch_log.json").write_text(batch)
    (tmp_path / "log_input" / "stream_log.json").write_text(stream)
    done = subprocess.run(
        [sys.executable, "-m", "clickguard.cli.main", "network", "--batch", "log_input/batch_log.json",
         "--stream", "log_input/stream_log.json", "--out", out_path],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    out = tmp_path / out_path
    return done, out.read_bytes() if out.is_file() else b"<missing>"


def test_the_challenge_sample(tmp_path):
    done, out = clickguard_network(tmp_path, SAMPLE_BATCH, SAMPLE_STREAM)
    assert done.returncode == 0, done.stderr
    assert out == SAMPLE_OUT


def test_the_hand_checked_case_with_changing_friendships_late_timestamps_and_truncation(tmp_path):
    done, out = clickguard_network(tmp_path, HAND_BATCH, "\n".join(HAND_STREAM) + "\n")
    assert done.returncode == 0, done.stderr
    assert out == HAND_OUT
    assert "1 malformed lines skipped" in done.stderr and "amount is missing: 1" in done.stderr


def test_nothing_flagged_gives_an_empty_file_that_exists(tmp_path):
    done, out = clickguard_network(tmp_path, SAMPLE_BATCH, SAMPLE_STREAM.replace("1601.83", "12.00"))
    assert done.returncode == 0
    assert out == b""


def test_a_bad_parameters_line_exits_2_with_the_reason(tmp_path):
    done, out = clickguard_network(tmp_path, '{"D":"3", "T":"1"}\n', SAMPLE_STREAM)
    assert done.returncode == 2
    assert "T must be >= 2" in done.stderr
    assert out == b"<missing>"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_an_output_on_a_full_disk_exits_2_with_the_reason_and_no_traceback(tmp_path):
    """/dev/full takes the open and fails every write with ENOSPC, as a full disk does at the last flush."""
    done, _ = clickguard_network(tmp_path, SAMPLE_BATCH, SAMPLE_STREAM, out_path="/dev/full")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--out /dev/full: cannot write it (No space left on device)" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_generated_log_gives_the_naive_rules_flags(tmp_path):
    batch_shape = LogShape(users=300, events=20_000, seed=21, outlier_share=0.01)
    stream_shape = LogShape(users=300, events=3_000, seed=22, outlier_share=0.01)
    batch, stream = challenge_files(2, 10, batch_shape, stream_shape)
    done, out = clickguard_network(tmp_path, batch, stream)
    assert done.returncode == 0, done.stderr
    naive = NaiveNetwork(2, 10)
    first, later = challenge_events(batch_shape, stream_shape)
    naive.run(first, score=False)
    want = naive.run(later, score=True)
    lines = out.decode().splitlines()
    assert want and len(lines) == len(want)
    assert [line[line.index('"mean"') :] for line in lines] == [f'"mean": "{m}", "sd": "{s}"}}' for _, m, s in want]
