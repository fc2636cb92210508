"""Columns of parsed training events, with every rejected line counted by reason.

No line can make training fail: each is parsed by the total decoder (``clickguard.decoding``, the consumer's) and
a bad one is counted under its ``Reason`` and skipped while the object's other lines are kept. The archive holds
canonical NDJSON written by the Firehose transformation (``lambdas/archive_transform``) with the consumer's
decoder; older archives hold the producers' own JSON lines, read by shape. An archive object is decoded as one
JSON array in one call into msgspec (typed structs when every line is canonical, no dict built) and redone line
by line only when some line needs its own verdict; a line that is not JSON is given to the whole decoder (a
Snowplow line, say), so an event decodes the same here as in the consumer.
A gzip object with trailing garbage, or a truncated or corrupt member, keeps the whole lines decompressed before
the bad bytes, and the object is counted once as ``gzip_garbage``.
"""

from __future__ import annotations

import contextlib
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from sys import intern
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.decoding import DecodeConfig, Decoder
from clickguard.decoding.jsonfast import by_reference, decode_value, parse_lines, struct_columns, struct_event
from clickguard.events import MAX_DEPTH, Event, UserKeySource, parse_object
from clickguard.gc_pause import no_cyclic_gc
from clickguard.rejections import Reason, RejectedRecord

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
    first_detail: dict[str, str] = field(default_factory=dict)  # reason -> its first rejection's detail (files)

    def __len__(self) -> int:
        return len(self.users)

    def absorb(self, other: EventColumns) -> None:
        """``other``'s events after these, its lines and rejections counted with these."""
        for name in ("users", "tokens", "ts_ms", "session_ids", "event_ids"):
            getattr(self, name).extend(getattr(other, name))
        self.rejected.update(other.rejected)
        self.lines += other.lines
        for reason, detail in other.first_detail.items():
            self.first_detail.setdefault(reason, detail)

    def subset(self, keep: list[int]) -> EventColumns:
        """The events at ``keep`` (in that order), with the same line and rejection counts; self if all kept."""
        return self if len(keep) == len(self) else self._take(keep)

    def _take(self, keep: list[int]) -> EventColumns:
        return EventColumns(
            users=[self.users[i] for i in keep],
            tokens=[self.tokens[i] for i in keep],
            ts_ms=[self.ts_ms[i] for i in keep],
            session_ids=[self.session_ids[i] for i in keep],
            event_ids=[self.event_ids[i] for i in keep],
            rejected=self.rejected,
            lines=self.lines,
            first_detail=self.first_detail,
        )

    def in_time_order(self) -> EventColumns:
        """The events in the order they happened: a stable sort, so columns already in order (the archive's, a file
        written as events came) come back as they are, and events of one time keep their order; self when nothing
        moves."""
        ts = np.asarray(self.ts_ms, dtype=np.int64)
        if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):
            return self
        return self._take(np.argsort(ts, kind="stable").tolist())

    def add_line(
        self, line: bytes | str, source: UserKeySource = UserKeySource.SESSION_USER_ID, decoder: Decoder | None = None
    ) -> None:
        """One archive line, read as the consumer reads a record: usually one JSON object, but Firehose concatenates
        records without a delimiter unless told otherwise, and the decoder splits a line of ``{..}{..}`` into its
        objects. ``decoder``: another than the consumer's default one (a file of a producer's own JSON read through a
        field mapping)."""
        self.lines += 1
        data = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
        for item in (decoder or _decoder(source)).items(data):
            result = item.result
            if isinstance(result, Event):
                self._append(result)
            else:
                self.rejected[result.reason.value] += 1
                self.first_detail.setdefault(result.reason.value, result.detail)

    def _add_structs(self, structs: list[Any], lines: list[bytes], source: UserKeySource) -> None:
        """Typed canonical structs -> columns: a column at a time when every event takes ``canonical_event``'s fast
        path (``canonical_columns``), else event by event, each bad one counted (a line the struct cannot read, a
        field that says "no value", by the reference)."""
        found = struct_columns(structs)
        if found is None:
            self._extend(self._parse_structs(structs, lines, source))
            return
        columns = found[0]  # the network fields are checked there, and kept by the consumer, not by training
        self.users.extend(columns.users)
        self.tokens.extend(columns.tokens)
        self.ts_ms.extend(columns.ts_ms)
        self.session_ids.extend(columns.session_ids)
        self.event_ids.extend(columns.event_ids)

    def _parse_structs(self, structs: list[Any], lines: list[bytes], source: UserKeySource) -> list[Event]:
        parsed: list[Event] = []
        append = parsed.append
        for c, line in zip(structs, lines, strict=True):
            if by_reference(c):
                parsed.extend(self._parse_values([decode_value(line)], source))
                continue
            try:
                append(struct_event(c))
            except RejectedRecord as exc:
                self.rejected[exc.reason.value] += 1
        return parsed

    def _parse_values(self, objs: list[Any], source: UserKeySource) -> list[Event]:
        """Decoded lines -> events, each bad one counted; a line holding a JSON array holds events, as a record does
        for the consumer."""
        parsed: list[Event] = []
        append = parsed.append
        for obj in objs:
            for value in obj if type(obj) is list else (obj,):
                try:
                    append(parse_object(value, source))
                except RejectedRecord as exc:
                    self.rejected[exc.reason.value] += 1
        return parsed

    def _append(self, ev: Event) -> None:
        # one string per user and per action, not one per line (a web log's 2M lines: 120 MB less at the peak)
        self.users.append(intern(ev.user_key))
        self.tokens.append(intern(ev.token))
        self.ts_ms.append(ev.ts_ms)
        self.session_ids.append(ev.session_id)
        self.event_ids.append(ev.event_id)

    def add_lines(
        self,
        lines: Iterable[bytes | str],
        source: UserKeySource = UserKeySource.SESSION_USER_ID,
        decoder: Decoder | None = None,
    ) -> None:
        for line in lines:
            if line.strip():
                self.add_line(line, source, decoder)

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
        with no_cyclic_gc():
            for body in bodies:
                add(body, source)

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
        decoded = _decode_all(body, lines)
        if decoded is None:
            self.add_lines(lines, source)
            return
        self.lines += len(lines)
        objs, typed = decoded
        if typed:
            self._add_structs(objs, lines, source)
        else:
            self._extend(self._parse_values(objs, source))

    def _extend(self, parsed: list[Event]) -> None:
        if parsed:  # one transpose per object instead of five appends per event
            users, tokens, ts_ms, session_ids, event_ids, _amounts, _friends = zip(*parsed, strict=True)
            self.users.extend(users)
            self.tokens.extend(tokens)
            self.ts_ms.extend(ts_ms)
            self.session_ids.extend(session_ids)
            self.event_ids.extend(event_ids)


def _decode_all(body: bytes, lines: list[bytes]) -> tuple[list[Any], bool] | None:
    """The lines as one JSON array, with the per-record rules of ``parse_record`` (size, depth, strict UTF-8,
    no NaN): typed canonical structs when every line is canonical, else decoded values; None when some line breaks
    one, so that the caller gives each line its own verdict."""
    if max(map(len, lines)) > settings.MAX_RECORD_BYTES:
        return None
    # More opening brackets on one line than MAX_DEPTH (brackets in strings included) is needed to nest too deep.
    if max(map(len, body.translate(None, _NOT_OPENING).split(b"\n"))) > MAX_DEPTH:
        return None
    return parse_lines(body, lines)


_DECODERS: dict[UserKeySource, Decoder] = {}


def _decoder(source: UserKeySource) -> Decoder:
    """The consumer's decoder with its default formats, one per user key source."""
    decoder = _DECODERS.get(source)
    if decoder is None:
        decoder = _DECODERS[source] = Decoder(DecodeConfig(user_key_source=source))
    return decoder


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
