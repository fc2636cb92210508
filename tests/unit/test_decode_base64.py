"""Records that are the base64 text of a record (``decoding.base64_text``): what the AWS CLI v1 puts on the stream for
``put-record --data "$(... | base64)"``. Texts are built as GNU ``base64`` writes them (``base64.encodebytes``: 76
characters a line) and as the URL-safe alphabet without padding; the records inside with the producers' own
libraries (``aws_kinesis_agg``, ``gzip``)."""

from __future__ import annotations

import base64
import gzip

import pytest

from clickguard.decoding import ALL_FORMATS, DecodeConfig, Decoder, Format, detect
from clickguard.events import Event
from clickguard.rejections import Reason, RejectedRecord
from tests.unit.test_decode_formats import aggregate, ev, line

D = Decoder()
EVENT = line(ev("u1", "login", outcome="fail", session_id="s1", event_id="e1"))


def shell_base64(data: bytes) -> bytes:
    """``$(printf %s DATA | base64)``: 76-character lines, the last newline dropped by the shell."""
    return base64.encodebytes(data).rstrip(b"\n")


def rejection(data: bytes, decoder: Decoder = D) -> RejectedRecord:
    with pytest.raises(RejectedRecord) as exc:
        decoder.decode(data)
    return exc.value


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(EVENT),
        shell_base64(EVENT),
        shell_base64(EVENT) + b"\n",
        base64.urlsafe_b64encode(b"\xef\xbb\xbf" + EVENT).rstrip(b"="),  # a byte-order mark, no padding
    ],
    ids=["one-line", "wrapped", "trailing-newline", "url-safe"],
)
def test_base64_text_of_an_event_reads_as_the_event(text):
    assert b"\n" in shell_base64(EVENT)  # the event is longer than one line of base64: wrapped text is tested
    assert detect(text) is Format.BASE64
    assert D.decode(text) == D.decode(EVENT)


def test_base64_text_of_compressed_ndjson_and_of_a_kpl_aggregate_reads_as_those_records():
    ndjson = gzip.compress(b"\n".join(line(ev(f"u{k}", k=k)) for k in range(3)) + b"\n")
    assert [i.result for i in D.decode(shell_base64(ndjson))] == [i.result for i in D.decode(ndjson)]
    agg = aggregate([("pk-a", line(ev("a"))), ("pk-b", base64.b64encode(line(ev("b"))))])  # a part in base64 too
    got = D.decode(shell_base64(agg))
    assert [(i.result.user_key, i.partition_key) for i in got] == [("a", "pk-a"), ("b", "pk-b")]


@pytest.mark.parametrize(
    "text",
    [b"Hello", b"deadbeef" * 8, base64.b64encode(base64.b64encode(EVENT)), b"QUJD", b"===="],
    ids=["word", "hex-digest", "base64-twice", "base64-of-text", "padding"],
)
def test_text_in_base64_s_alphabet_that_holds_no_record_keeps_its_own_verdict(text):
    assert detect(text) is Format.JSON
    assert rejection(text).reason is Reason.NOT_JSON


def test_two_base64_texts_run_together_are_bad_base64_and_a_bad_record_inside_says_where_it_was():
    err = rejection(base64.b64encode(EVENT) + base64.b64encode(EVENT))
    assert err.reason is Reason.BAD_BASE64 and "does not decode whole" in err.detail
    err = rejection(base64.b64encode(b'{"user_id": "u1", "event_type": '))
    assert err.reason is Reason.NOT_JSON and err.detail.startswith("in the record's base64 text: ")
    err = rejection(base64.b64encode(aggregate([("k", EVENT)])[:-3]))  # truncated: the checksum fails
    assert err.reason is Reason.KPL_CHECKSUM


def test_base64_records_can_be_switched_off():
    off = Decoder(DecodeConfig(formats=ALL_FORMATS - {Format.BASE64}))
    assert rejection(base64.b64encode(EVENT), off).reason is Reason.FORMAT_DISABLED
    assert isinstance(off.decode(EVENT), Event)
