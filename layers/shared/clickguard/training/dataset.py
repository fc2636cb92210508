"""Columns of parsed training events, with every rejected line counted by reason."""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from clickguard import settings
from clickguard.events import Reason, RejectedRecord, UserKeySource, parse_object, parse_record

_raw_decode = json.JSONDecoder().raw_decode


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
        except ValueError:
            return False
        if len(objs) < 2:
            return False
        for obj in objs:
            try:
                self._append(parse_object(obj, source))
            except RejectedRecord as exc:
                self.rejected[exc.reason.value] += 1
        return True

    def _append(self, ev) -> None:
        self.users.append(ev.user_key)
        self.tokens.append(ev.token)
        self.ts_ms.append(ev.ts_ms)
        self.session_ids.append(ev.session_id)
        self.event_ids.append(ev.event_id)

    def add_lines(self, lines: Iterable[bytes | str], source: UserKeySource = UserKeySource.SESSION_USER_ID) -> None:
        for line in lines:
            if line.strip():
                self.add_line(line, source)

    def add_objects(self, bodies: Iterable[bytes], source: UserKeySource = UserKeySource.SESSION_USER_ID) -> None:
        """Every object of an archive window. Parsing makes millions of small tuples and no reference cycles, so
        the cyclic collector only burns time re-walking them (about a third of the parse, measured); it is paused
        for the loop and restored after."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for body in bodies:
                self.add_object(body, source)
        finally:
            if was_enabled:
                gc.enable()

    def add_object(self, body: bytes, source: UserKeySource = UserKeySource.SESSION_USER_ID) -> None:
        """All lines of one archive object. Decoding them as one JSON array runs the whole object through the C
        decoder in one call; if any line is bad, the object is redone line by line so each gets its reason."""
        lines = [line for line in body.splitlines() if line.strip()]
        if not lines:
            return
        objs = None
        if max(map(len, lines)) <= settings.MAX_RECORD_BYTES:
            try:
                objs = json.loads(b"[" + b",".join(lines) + b"]")
            except ValueError:  # includes UnicodeDecodeError
                objs = None
        if objs is None or len(objs) != len(lines):
            self.add_lines(lines, source)
            return
        self.lines += len(lines)
        parsed = []
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
