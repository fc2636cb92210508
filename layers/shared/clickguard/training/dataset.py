"""Columns of parsed training events, with every rejected line counted by reason.

No line can make training fail: each is parsed by the total decoder of ``clickguard.events`` and a bad one is
counted under its ``Reason`` and skipped while the object's other lines are kept. An archive object is decoded as
one JSON array (one call into the C decoder) and redone line by line only when some line needs its own verdict.
A gzip object with trailing garbage, or a truncated or corrupt member, keeps the whole lines decompressed before
the bad bytes, and the object is counted once as ``gzip_garbage``.
"""

from __future__ import annotations

import contextlib
import gc
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from clickguard import settings
from clickguard.events import (
    DECODER,
    MAX_DEPTH,
    Event,
    Reason,
    RejectedRecord,
    UserKeySource,
    parse_object,
    parse_record,
)

_raw_decode = DECODER.raw_decode
# Every byte but an opening bracket and a newline: what is left of a body is, line by line, its opening brackets.
_NOT_OPENING = bytes(b for b in range(256) if b not in b"{[\n")
_GZIP_CHUNK = 1 << 16  # compressed bytes per zlib call: a corrupt member loses at most one chunk's output


@dataclass
class EventColumns:
    users: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    ts_ms: list[int] = field(default_factory=list)
    session_ids: list[str | None] = field(default_factory=list)
    event_ids: list[str | None] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    lines: int = 0

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, keep: list[int]) -> EventColumns:
        """The events at ``keep`` (in that order), with the same line and rejection counts; self if all kept."""
        if len(keep) == len(self):
            return self
        return EventColumns(
            users=[self.users[i] for i in keep],
            tokens=[self.tokens[i] for i in keep],
            ts_ms=[self.ts_ms[i] for i in keep],
            session_ids=[self.session_ids[i] for i in keep],
            event_ids=[self.event_ids[i] for i in keep],
            rejected=self.rejected,
            lines=self.lines,
        )

    def add_line(self, line: bytes | str, source: UserKeySource = UserKeySource.SESSION_USER_ID) -> None:
        """One archive line: usually one JSON object, but Firehose concatenates records without a delimiter
        unless told otherwise, so a line of ``{..}{..}`` is split into its objects."""
        self.lines += 1
        try:
            ev = parse_record(line, source)
        except RejectedRecord as exc:
            if exc.reason is Reason.NOT_JSON and self._add_concatenated(line, source):
                return
            self.rejected[exc.reason.value] += 1
            return
        self._append(ev)

    def _add_concatenated(self, line: bytes | str, source: UserKeySource) -> bool:
        try:
            text = line.decode("utf-8") if isinstance(line, bytes | bytearray) else line
            objs, pos = [], 0
            while pos < len(text):
                while pos < len(text) and text[pos] in " \t\r\n":
                    pos += 1
                if pos == len(text):
                    break
                obj, pos = _raw_decode(text, pos)
                objs.append(obj)
        except (ValueError, RecursionError):  # RejectedRecord (NaN) is a ValueError; depth was checked per line
            return False
        if len(objs) < 2:
            return False
        for obj in objs:
            try:
                self._append(parse_object(obj, source))
            except RejectedRecord as exc:
                self.rejected[exc.reason.value] += 1
        return True

    def _append(self, ev: Event) -> None:
        self.users.append(ev.user_key)
        self.tokens.append(ev.token)
        self.ts_ms.append(ev.ts_ms)
        self.session_ids.append(ev.session_id)
        self.event_ids.append(ev.event_id)

    def add_lines(self, lines: Iterable[bytes | str], source: UserKeySource = UserKeySource.SESSION_USER_ID) -> None:
        for line in lines:
            if line.strip():
                self.add_line(line, source)

    def add_objects(
        self,
        bodies: Iterable[bytes],
        source: UserKeySource = UserKeySource.SESSION_USER_ID,
        *,
        gzipped: bool = False,
    ) -> None:
        """Every object of an archive window (still gzip-compressed if ``gzipped``). Parsing makes millions of small
        tuples and no reference cycles, so the cyclic collector only burns time re-walking them (about a third of
        the parse, measured); it is paused for the loop and restored after."""
        add = self.add_gzip_object if gzipped else self.add_object
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for body in bodies:
                add(body, source)
        finally:
            if was_enabled:
                gc.enable()

    def add_gzip_object(self, body: bytes, source: UserKeySource = UserKeySource.SESSION_USER_ID) -> None:
        """One gzip archive object: the whole lines of its valid members; bad bytes counted as ``gzip_garbage``."""
        data, cut = gunzip(body)
        if cut:
            self.rejected[Reason.GZIP_GARBAGE.value] += 1
        self.add_object(data, source)

    def add_object(self, body: bytes, source: UserKeySource = UserKeySource.SESSION_USER_ID) -> None:
        """All lines of one (decompressed) archive object. Decoding them as one JSON array runs the whole object
        through the C decoder in one call; if any line is bad, the object is redone line by line so each gets its
        reason."""
        lines = [line for line in body.splitlines() if line.strip()]
        if not lines:
            return
        objs = _decode_all(body, lines)
        if objs is None:
            self.add_lines(lines, source)
            return
        self.lines += len(lines)
        parsed: list[Event] = []
        append = parsed.append
        for obj in objs:
            try:
                append(parse_object(obj, source))
            except RejectedRecord as exc:
                self.rejected[exc.reason.value] += 1
        if parsed:  # one transpose per object instead of five appends per event
            users, tokens, ts_ms, session_ids, event_ids = zip(*parsed, strict=True)
            self.users.extend(users)
            self.tokens.extend(tokens)
            self.ts_ms.extend(ts_ms)
            self.session_ids.extend(session_ids)
            self.event_ids.extend(event_ids)


def _decode_all(body: bytes, lines: list[bytes]) -> list[Any] | None:
    """The lines as one JSON array, with the per-record rules of ``parse_record`` (size, depth, strict UTF-8,
    no NaN); None when some line breaks one, so that the caller gives each line its own verdict."""
    if max(map(len, lines)) > settings.MAX_RECORD_BYTES:
        return None
    # More opening brackets on one line than MAX_DEPTH (brackets in strings included) is needed to nest too deep.
    if max(map(len, body.translate(None, _NOT_OPENING).split(b"\n"))) > MAX_DEPTH:
        return None
    try:
        objs = DECODER.decode((b"[" + b",".join(lines) + b"]").decode("utf-8"))
    except (ValueError, RecursionError):  # bad JSON or UTF-8, NaN / Infinity, an integer with too many digits
        return None
    return objs if len(objs) == len(lines) else None


def gunzip(body: bytes) -> tuple[bytes, bool]:
    """Every gzip member of ``body`` decompressed, and whether some bytes were left out.

    Decoding stops at the first bytes that are not a whole, valid member (trailing garbage, a truncated or corrupt
    member); what came before is kept, cut to whole lines. Zero padding between members is skipped, as gzip does.
    """
    view, pos = memoryview(body), 0
    done: list[bytes] = []
    while pos < len(view):
        data, end = _gunzip_member(view, pos)
        if end < 0:
            done.append(data[: data.rfind(b"\n") + 1])
            return b"".join(done), True
        done.append(data)
        pos = end
        while pos < len(view) and view[pos] == 0:
            pos += 1
    return b"".join(done), False


def _gunzip_member(view: memoryview, pos: int) -> tuple[bytes, int]:
    """The output of the gzip member at ``pos`` and the offset after it; -1 and the output produced before the
    error or the end if the member is not whole."""
    member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out: list[bytes] = []
    for start in range(pos, len(view), _GZIP_CHUNK):
        end = min(start + _GZIP_CHUNK, len(view))
        try:
            out.append(member.decompress(view[start:end]))
        except zlib.error:
            return b"".join(out), -1
        if member.eof:
            return b"".join(out), end - len(member.unused_data)
    with contextlib.suppress(zlib.error):  # not seen to raise after decompress() did not; kept total anyway
        out.append(member.flush())
    return b"".join(out), -1
