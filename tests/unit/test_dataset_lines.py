"""Training input (issue 9): no line or archive object makes training raise; each bad line is counted by reason."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickguard.events import MAX_DEPTH
from clickguard.rejections import Reason
from clickguard.training import dataset
from clickguard.training.dataset import EventColumns, gunzip
from tests.factories import ndjson, ordinary_events
from tests.unit.test_events_fuzz import PROFILE, canonical_records, render

GOOD = ndjson(ordinary_events(20, seed=3))
N_GOOD = GOOD.count(b"\n")
BASE = '{"user_id":"u9","event_type":"x","timestamp":1546387276'

BAD_LINES = {
    BASE + ',"outcome":[]}': Reason.BAD_TYPE,
    BASE + ',"session_id":{"ip":"203.0.113.7"}}': Reason.BAD_TYPE,
    BASE + ',"attributes":[NaN]}': Reason.BAD_NUMBER,
    '{"user_id":"u9","event_type":"x","timestamp":Infinity}': Reason.BAD_NUMBER,
    '{"user_id":"u9","event_type":"x","timestamp":-1e309}': Reason.BAD_NUMBER,
    BASE + ',"n":' + "7" * 5000 + "}": Reason.BAD_NUMBER,
    BASE + ',"a":' + "[" * 3000 + "]" * 3000 + "}": Reason.TOO_DEEP,
    BASE + ',"a":' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}": Reason.TOO_DEEP,  # 65 levels: the C decoder copes
    '{"user_id":"u\\ud800","event_type":"x","timestamp":1546387276}': Reason.BAD_UNICODE,
    '{"user_id":"u9","event_type":"x\\udfff","timestamp":1546387276}': Reason.BAD_UNICODE,
    "not json": Reason.NOT_JSON,
}


def columns(body: bytes) -> EventColumns:
    cols = EventColumns()
    cols.add_object(body)
    return cols


def snapshot(cols: EventColumns) -> tuple:
    return cols.users, cols.tokens, cols.ts_ms, cols.session_ids, cols.event_ids, dict(cols.rejected), cols.lines


@pytest.mark.parametrize(("line", "reason"), list(BAD_LINES.items()), ids=[r.value for r in BAD_LINES.values()])
def test_one_bad_line_is_counted_and_the_objects_other_lines_kept(line, reason):
    lines = GOOD.splitlines()
    body = b"\n".join([*lines[:5], line.encode(), *lines[5:]]) + b"\n"
    cols = columns(body)
    assert len(cols) == N_GOOD and cols.lines == N_GOOD + 1
    assert dict(cols.rejected) == {reason.value: 1}


def test_all_bad_lines_at_once_and_a_utf8_surrogate():
    body = GOOD + "\n".join(BAD_LINES).encode() + b"\n" + b'{"user_id":"u\xed\xa0\x80"}\n'
    cols = columns(body)
    expected: dict[str, int] = {"not_utf8": 1}
    for reason in BAD_LINES.values():
        expected[reason.value] = expected.get(reason.value, 0) + 1
    assert len(cols) == N_GOOD and dict(cols.rejected) == expected


def test_a_clean_object_takes_the_one_array_fast_path(monkeypatch):
    def per_line(*_args, **_kw):
        raise AssertionError("a clean object must not be redone line by line")

    monkeypatch.setattr(EventColumns, "add_lines", per_line)
    deep_but_legal = BASE + ',"a":' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}\n"
    cols = columns(GOOD + deep_but_legal.encode())
    assert len(cols) == N_GOOD + 1 and not cols.rejected


def test_concatenated_records_with_a_hostile_one_never_raise():
    good = json.dumps(ordinary_events(1, seed=1)[0])
    cols = columns(f'{good}{good}\n{good}{BASE},"x":NaN}}\n{good}{BASE},"x":{"[" * 3000}\n'.encode())
    assert len(cols) == 2 and dict(cols.rejected) == {"not_json": 1, "too_deep": 1}


@settings(PROFILE, max_examples=150)
@given(st.lists(st.tuples(canonical_records(), st.sampled_from([0, 2])), min_size=1, max_size=8))
def test_fast_path_and_line_by_line_agree(records):
    """Whichever path an object takes, every line gets the verdict parse_record gives it."""
    lines = [render(record, how) for (record, _bad), how in records]
    body = b"\n".join(lines) + b"\n"
    one = columns(body)
    each = EventColumns()
    each.add_lines(body.splitlines())
    assert snapshot(one) == snapshot(each)


# --- gzip: trailing garbage and truncated members keep the valid lines ------------------------------------------


def test_trailing_garbage_after_gzip_keeps_every_line():
    data, cut = gunzip(gzip.compress(GOOD) + b"this is not gzip\x00\x01")
    assert (data, cut) == (GOOD, True)
    cols = EventColumns()
    cols.add_gzip_object(gzip.compress(GOOD) + b"garbage")
    assert len(cols) == N_GOOD and dict(cols.rejected) == {"gzip_garbage": 1}
    with pytest.raises(gzip.BadGzipFile):  # what the archive reader did until now: the whole object was lost
        gzip.decompress(gzip.compress(GOOD) + b"garbage")


def test_a_truncated_second_member_keeps_the_first_and_the_whole_lines_of_the_second():
    first, second = GOOD[: len(GOOD) // 2], GOOD[len(GOOD) // 2 :]
    first = first[: first.rfind(b"\n") + 1]
    second = GOOD[len(first) :]
    member = gzip.compress(second)
    data, cut = gunzip(gzip.compress(first) + member[: len(member) - 30])
    assert cut and data.startswith(first) and GOOD.startswith(data) and data.endswith(b"\n")


def test_gzip_members_padding_and_non_gzip():
    halves = GOOD[:200], GOOD[200:]
    assert gunzip(gzip.compress(halves[0]) + b"\x00" * 7 + gzip.compress(halves[1])) == (GOOD, False)
    assert gunzip(b"") == (b"", False)
    assert gunzip(b"not gzip at all") == (b"", True)
    assert gunzip(gzip.compress(b"")) == (b"", False)


def test_a_corrupt_member_keeps_the_lines_decompressed_before_the_error():
    rng = random.Random(4)
    big = b"".join(
        json.dumps({"user_id": f"u{rng.random()}", "pad": rng.random()}).encode() + b"\n" for _ in range(30_000)
    )
    packed = bytearray(gzip.compress(big, compresslevel=1))
    assert len(packed) > 3 * dataset._GZIP_CHUNK
    packed[len(packed) // 2] ^= 0xFF
    data, cut = gunzip(bytes(packed))
    # deflate notices corruption late (here at the CRC): the lines in between are garbled and left to the parser
    intact = next(i for i, (x, y) in enumerate(zip(data, big, strict=False)) if x != y)
    assert cut and intact > len(big) // 3 and len(data) < len(big) and data.endswith(b"\n")
    cols = EventColumns()
    cols.add_gzip_object(bytes(packed))
    assert cols.rejected["gzip_garbage"] == 1 and cols.lines >= big[:intact].count(b"\n")


def test_truncated_single_member_drops_only_the_cut_line():
    packed = gzip.compress(GOOD)
    for cut_at in (5, 15, len(packed) // 2, len(packed) - 9, len(packed) - 1):
        data, cut = gunzip(packed[:cut_at])
        assert cut and GOOD.startswith(data) and (not data or data.endswith(b"\n"))


def test_add_objects_takes_gzip_bodies_when_asked():
    cols = EventColumns()
    cols.add_objects([gzip.compress(GOOD), gzip.compress(GOOD) + b"junk", b"junk"], gzipped=True)
    assert len(cols) == 2 * N_GOOD and dict(cols.rejected) == {"gzip_garbage": 2}
