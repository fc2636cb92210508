"""Event files on disk: NDJSON exports, or CSV / TSV with a header row (``.csv``, ``.tsv``), gzip- or zstd-compressed
(told by their first bytes whatever their name, or by a ``.gz`` / ``.zst`` name; zstd: every frame, and a file that
ends inside one is an error, not a shorter file)."""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import msgspec
import zstandard

from clickguard.decoding import lb_log, w3c_log
from clickguard.decoding.w3c_log import is_w3c
from clickguard.decoding.wrappers import wrapped_events

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_CHUNK = 1 << 16
_GZIP_MAGIC, _ZSTD_MAGIC = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"

# What ``open_binary`` returns: a buffered binary file that can ``peek`` (gzip's is not a ``typing.IO``).
BinaryFile = io.BufferedReader | gzip.GzipFile


def open_binary(path: str | Path) -> BinaryFile:
    """The file's bytes, inflated when it is gzip or zstd; a UTF-8 byte-order mark at its start (Windows tools and
    some exporters write one) is skipped, so the first line reads as the others do; a file of UTF-16 text, told by
    its byte-order mark (Excel's "Unicode Text" export, Windows PowerShell 5's ``>`` and ``Out-File``), is read as
    the same text in UTF-8."""
    path = Path(path)
    raw = path.open("rb")
    fh: BinaryFile = raw
    try:
        magic = raw.peek(4)[:4]  # by its bytes too (a log shipper's gzip object often has no .gz); peeked, not read
        if magic[:2] == _GZIP_MAGIC or path.suffix == ".gz":  # a .gz that is not gzip: its reader says so
            fh = _GzipOwning(raw)
        elif magic == _ZSTD_MAGIC or path.suffix == ".zst":
            fh = io.BufferedReader(_ZstdFile(raw), _CHUNK)
    except BaseException:
        raw.close()
        raise
    try:
        head = fh.peek(_CONTAINER_HEAD)
        if (kind := container_kind(head)) is not None:
            raise NotEventText(kind)
        if head.startswith(codecs.BOM_UTF8):
            fh.read(len(codecs.BOM_UTF8))
        elif head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return io.BufferedReader(_Utf16File(fh), _CHUNK)
    except BaseException:  # not gzip after all, truncated...: closed here, raised to the caller
        fh.close()
        raise
    return fh


class NotEventText(OSError):
    """A file that holds no event text: a workbook, a columnar or binary container (its message says what it is
    and what to do instead)."""


# Containers that hold tables but no text lines, by their first bytes: the CLI names them rather than report every
# line rejected as not_json or not_utf8.
_CONTAINERS = (
    (b"PAR1", "a Parquet file: write it as NDJSON or CSV first (pandas: read_parquet(...).to_json(out, "
              "orient='records', lines=True))"),
    (b"PK\x03\x04", "a ZIP archive (an Excel workbook is one): export the sheet as CSV, or unzip the files"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook: export the sheet as CSV"),
    (b"Obj\x01", "an Avro container: write it as NDJSON first"),
    (b"SQLite format 3\x00", "an SQLite database: export the table as CSV"),
    (b"\xfd7zXZ\x00", "xz-compressed: decompress it, or compress with gzip (.gz) or zstd (.zst)"),
    (b"BZh", "bzip2-compressed: decompress it, or compress with gzip (.gz) or zstd (.zst)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: extract the files and give them one by one"),
    (b"Rar!\x1a\x07", "a RAR archive: extract the files and give them one by one"),
)  # fmt: skip
# A tar archive (inside gzip: .tar.gz) says so at byte 257 of its first header; read as text, each file's first line
# was lost in the header before it and the command succeeded (a tester's two files: 2 events short, 3 not_json).
_TAR_MAGIC_AT, _TAR_MAGIC = 257, b"ustar"
_TAR = "a tar archive: extract the files (tar xzf) and give them one by one"
# Markup, whose indented lines had been read as Snowplow's tab-separated events (``bad_tsv``) or as not_json.
_XML = (
    "an XML document (an XES event log?): export its events as CSV or NDJSON first (pm4py.read_xes(path) reads "
    "it as a table; to_csv(out) writes it)"
)
_HTML = "an HTML page, not an export of events: was a download's error page saved in its place?"
# A tag, a declaration or a processing instruction first (a syslog line's "<34>" is none).
_MARKUP = re.compile(rb"<[a-z!?]")
_HTML_STARTS = (b"<!doctype", b"<html", b"<head", b"<body", b"<table", b"<div", b"<!--")
_CONTAINER_HEAD = max(_TAR_MAGIC_AT + len(_TAR_MAGIC), *(len(magic) for magic, _ in _CONTAINERS))


def container_kind(head: bytes) -> str | None:
    """What a file whose first bytes are ``head`` is, when it is a container of tables rather than text."""
    if head[_TAR_MAGIC_AT : _TAR_MAGIC_AT + len(_TAR_MAGIC)] == _TAR_MAGIC:
        return _TAR
    if _MARKUP.match(markup := head.lstrip(b"\xef\xbb\xbf \t\r\n")[:12].lower()):
        return _HTML if markup.startswith(_HTML_STARTS) else _XML
    return next((kind for magic, kind in _CONTAINERS if head.startswith(magic)), None)


def utf16_without_bom(head: bytes) -> bool:
    """Whether ``head`` reads as UTF-16 text with no byte-order mark (``open_binary`` reads it as UTF-8): a NUL in
    every other byte of mostly Latin text, as neither UTF-8 nor UTF-16's other half holds them."""
    half = len(head) // 2
    return half >= 2 and max(head[0::2].count(0), head[1::2].count(0)) * 4 >= half * 3


class _Utf16File(io.RawIOBase):
    """UTF-16 text (its byte-order mark first) as UTF-8 bytes; a lone surrogate reaches the decoder as UTF-8's
    ``surrogatepass`` bytes, so its line alone is rejected (``not_utf8``), as a byte that is not UTF-8 is."""

    def __init__(self, raw: BinaryFile) -> None:
        self._raw = raw
        self._text = codecs.getincrementaldecoder("utf-16")(errors="surrogatepass")
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending:
            chunk = self._raw.read(_CHUNK)
            self._pending = self._text.decode(chunk, final=not chunk).encode("utf-8", "surrogatepass")
            if not chunk:
                break
        view = memoryview(buffer)
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class _GzipOwning(gzip.GzipFile):
    """gzip over a file already open, closed with it (``GzipFile`` leaves a file it was given open)."""

    def __init__(self, raw: io.BufferedReader) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


class _ZstdFile(io.RawIOBase):
    """A zstd file's content, frame after frame; ``EOFError`` when the file ends inside a frame (``zstandard``'s
    stream reader would return the frame's content so far as if it were all)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._frame = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending:
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                if self._started and not self._frame.eof:
                    raise EOFError("the file ends inside a zstd frame")
                return 0
            self._pending = self._inflate(chunk)
        view = memoryview(buffer)  # io passes one already
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _inflate(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            if self._frame.eof:  # the next frame, if the bytes after the last one start one
                self._frame = zstandard.ZstdDecompressor().decompressobj()
            self._started = True
            try:
                out.append(self._frame.decompress(chunk))
            except zstandard.ZstdError as exc:
                raise EOFError(f"not zstd, or corrupt ({exc})") from None
            chunk = self._frame.unused_data if self._frame.eof else b""
        return b"".join(out)

    def close(self) -> None:
        self._raw.close()
        super().close()


_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}


# A header's cell: a name (spaces, digits and brackets inside allowed: "page 1 (main category)"; a colon between
# letters: the XES names process-mining tools export, "case:concept:name", never a time's "00:22:32" or an IPv6
# address's "fe80::1"), in any script's letters ("ユーザーID", "Üser ID": read as a
# row of data, such a file's error had blamed its missing header), never a number or a time, as a data row holds
# (digits, or a date with its separators); and the separators a header may use: a comma, a semicolon (spreadsheets
# where the comma is the decimal mark write it), a tab, a pipe.
_HEADER_CELL = re.compile(r"(?:[^\W\d]|[$@])(?:[\w$@.\-() /]|(?<=[^\W\d_]):(?=[^\W\d_]))*")
_SEPARATORS = (",", ";", "\t", "|")
# A text line's end: LF, CRLF, or an old Mac's lone CR (which a binary ``readline`` does not end a line at).
_LINE_END = re.compile("\r\n?|\n")


def header_delimiter(first: bytes) -> str | None:
    """The separator of a header row (names only, at least two), the one that splits it into the most names; None
    when the line is no header (JSON, a log line, a row of data)."""
    line = _LINE_END.split(first.decode("utf-8", "surrogateescape"), maxsplit=1)[0]
    if line.lstrip()[:1] in ("[", "{"):  # JSON: a one-line document may be longer than any CSV cell may be
        return None
    best, cells = None, 1
    for sep in _SEPARATORS:
        try:
            names = next(csv.reader([line], delimiter=sep), [])
        except csv.Error:  # a "cell" past the csv module's limit: no header's name
            continue
        if len(names) > cells and all(_HEADER_CELL.fullmatch(name.strip()) for name in names):
            best, cells = sep, len(names)
    return best


def delimiter(path: str | Path) -> str | None:
    """The cell separator of a delimited file by its name (compressed or not), or None for NDJSON and logs."""
    name = Path(path).name.lower().removesuffix(".gz").removesuffix(".zst")
    return _DELIMITERS.get(Path(name).suffix)


def event_lines(
    fh: BinaryFile | IO[bytes],
    path: str | Path,
    sep: str | None = "",
    notes: list[str] | None = None,
    columns: Sequence[str] = (),
) -> Iterator[bytes]:
    """The file's events as lines for the decoder: an NDJSON file's own lines; a CSV or TSV file's rows
    (``delimiter``), each as the JSON object of its non-empty cells under the header's names, which the decoder then
    reads as any flat JSON event (the canonical names, their aliases, or a field mapping). A cell's text stays text:
    the decoder reads numbers and times in text as it does in JSON strings. A byte that is not UTF-8 reaches the
    decoder as it was, so its row alone is rejected (``not_utf8``, as a JSON line is); a header that does not parse
    raises ``csv.Error``, one naming a column twice ``BadHeader``. Lines end in LF, CRLF or a lone CR (an old Mac's).
    A header tells the separator (``header_delimiter``); a TSV file has one
    only if its first line reads as one, else (Snowplow's enriched events, a field mapping's ``tsv_columns``) its
    lines are events as they are. ``sep`` overrides the name's verdict (None: NDJSON). A JSON document spread over
    lines (an exported array, pretty-printed) is read whole (``_json_lines``). ``notes`` gets what a user should be
    told of the file's rows (``_rows``: a stray quote's, by its line). ``columns`` names the columns of a delimited
    file whose first line is no header (Taobao's ``UserBehavior.csv``, a split export's later part): its first line
    is then a row like the others, its separator the one that splits it into that many cells; a file with a header
    of its own is read under it."""
    sniff = sep == ""
    sep = delimiter(path) if sniff else sep
    notes = [] if notes is None else notes
    if sep is None:
        yield from _json_lines(fh, notes if sniff else None)
        return
    first = fh.readline()
    found = header_delimiter(first)
    if columns and found is None:
        yield from _rows(first, fh, _separator(first, len(columns), sep), notes, list(_names(list(columns))))
        return
    if sep == "\t" and found is None:  # no header: Snowplow's lines, a mapping's tsv_columns
        yield first
        yield from fh
        return
    yield from _rows(first, fh, found or sep, notes)  # the header tells the separator: a .csv of semicolons, say


def row_width(first: bytes, columns: Sequence[str], named: str) -> int:
    """The cells of a headerless file's first row, split as ``event_lines`` splits it under ``columns`` (``named``:
    the separator its name says)."""
    line = _LINE_END.split(first.decode("utf-8", "surrogateescape"), maxsplit=1)[0]
    with contextlib.suppress(csv.Error):
        return len(next(csv.reader([line], delimiter=_separator(first, len(columns), named)), []))
    return 0


def _separator(first: bytes, width: int, named: str) -> str:
    """The separator of a headerless file's rows, given the number of its columns: the one that splits its first
    row into that many cells (a ``.csv`` of semicolons, as spreadsheets write where the comma is the decimal mark),
    else the one its name says."""
    line = _LINE_END.split(first.decode("utf-8", "surrogateescape"), maxsplit=1)[0]
    for sep in (named, *_SEPARATORS):
        with contextlib.suppress(csv.Error):
            if len(next(csv.reader([line], delimiter=sep), [])) == width:
                return sep
    return named


class BadHeader(csv.Error):
    """A delimited file's header that cannot say which column a name means (a name given twice)."""


class _Taken:
    """Text lines as the csv reader takes them, those of the record it is reading kept (``taken``): where a record
    began, and what a quoted cell of it swallowed."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines, self.taken = lines, list[str]()

    def __iter__(self) -> _Taken:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line

    def record(self) -> list[str]:
        """The lines of the record just read, the next one's begun."""
        taken, self.taken = self.taken, []
        return taken


def _rows(
    first: bytes, fh: BinaryFile | IO[bytes], sep: str, notes: list[str], named: list[str] | None = None
) -> Iterator[bytes]:
    """A delimited file's rows under its header ``first`` (or under ``named``, ``first`` a row like the others),
    each as the JSON object of its non-empty cells. A row
    whose quoted cell ran over whole rows (a stray ``"``: the csv module reads a quoted cell across lines, to the
    next quote or the file's end, or past its cell limit) yields its lines as they are, each rejected, and is noted
    by its line, rather than the rows it swallowed lost unsaid."""
    text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
    lines = _Taken(itertools.chain(io.StringIO(first.decode("utf-8", "surrogateescape"), newline=""), text))
    reader = csv.reader(lines, delimiter=sep)
    names = named if named is not None else _names(next(reader, []))
    at = (len(lines.record()) if named is None else 0) + 1  # the line the next record begins on
    while True:
        try:
            cells: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:  # a cell past the csv module's limit: the reader goes on at the next line
            cells = None
        taken = lines.record()
        if cells is None or _swallowed(taken, sep, len(names)):
            notes.append(_stray_quote(at, len(taken), cells is None))
            yield from (line.encode("utf-8", "surrogateescape") for line in taken)
        elif cells:  # not a blank line
            yield _row_json({name: value for name, value in zip(names, cells, strict=False) if name and value})
        at += len(taken)


def _names(header: list[str]) -> list[str]:
    """A header's column names; a name given twice is refused (the last column of it had silently won)."""
    seen = set()
    for name in filter(None, header):
        if name in seen:
            raise BadHeader(f"the header names the column {name!r} twice: rename or drop one")
        seen.add(name)
    return header


def _swallowed(taken: list[str], sep: str, width: int) -> bool:
    """Whether a record over several lines is a stray quote's: its quote still open at the file's end (a ``"`` line
    after it would close it, not start a record of its own), or a line inside its cell that is a whole row."""
    if len(taken) < 2:
        return False
    if sum(1 for _ in csv.reader([*taken, '"\n'], delimiter=sep)) == 1:
        return True
    return width > 1 and any(len(next(csv.reader([line], delimiter=sep), [])) >= width for line in taken[1:-1])


def _stray_quote(at: int, lines: int, past_limit: bool) -> str:
    how = f"past the csv module's cell limit ({csv.field_size_limit():,} chars)" if past_limit else "over whole rows"
    return (
        f'line {at}: a quoted cell runs {how}, a stray quote (")? Its {lines} line{"s" * (lines != 1)} '
        "(from that one on) are rejected, not read as rows"
    )


def _row_json(cells: dict[str, str]) -> bytes:
    """A row's cells as one JSON object; bytes that are not UTF-8 (read as surrogate escapes) go back as they came,
    so the decoder rejects the row as ``not_utf8``, as it does a JSON line (escaped, they read as a lone surrogate:
    ``bad_unicode``, the user id blamed for a file's Latin-1)."""
    text = json.dumps(cells)
    if "\\udc" not in text:  # every surrogate escape is \udc80-\udcff; a false hit only costs the slower path
        return text.encode()
    return json.dumps(cells, ensure_ascii=False).encode("utf-8", "surrogateescape")


def _json_lines(fh: BinaryFile | IO[bytes], notes: list[str] | None) -> Iterator[bytes]:
    """NDJSON's lines as they are. A file that is one JSON document is read whole, each event of it on a line of its
    own: one written over many lines (an array or an object with indentation, as exports and ``json.dump(...,
    indent=2)`` write them: its first line opens a value it does not close), or a file of one line. An array's
    items are its events; so are the items of an object's one list of objects (a wrapper, ``{"events": [...]}``);
    any other object is one event. A document that does not parse yields its lines, each rejected with its reason.
    A W3C extended log or a load balancer's access log (told by its first line) yields its requests in the Kinesis
    Agent's LOGTOJSON shape (``w3c_log``, ``lb_log``). Given ``notes`` (``_rows``'), a file whose first line is a
    header row (``header_delimiter``: a ``.txt`` export, a CSV under another name) is read as a delimited file."""
    first = fh.readline()
    while first and not first.strip():  # blank lines ahead of a document
        first = fh.readline()
    if is_w3c(first):  # IIS's, CloudFront's and other W3C extended logs
        yield from w3c_log.agent_objects(itertools.chain([first], fh))
        return
    if lb_log.is_lb(first):  # an Application or Classic Load Balancer's access log
        yield from lb_log.agent_objects(itertools.chain([first], fh))
        return
    if notes is not None and (sep := header_delimiter(first)) is not None:
        yield from _rows(first, fh, sep, notes)
        return
    if first.lstrip()[:1] not in (b"[", b"{"):
        yield first
        yield from fh
        return
    if _parses(first):
        second = fh.readline()
        if second.strip():  # NDJSON
            yield first
            yield second
            yield from fh
            return
        rest = fh.read()
        if rest.strip():  # NDJSON with a blank line after its first
            yield first
            yield from rest.splitlines(keepends=True)
            return
        body = first
    else:
        body = first + fh.read()
    docs: list[object] | None
    try:
        docs = [msgspec.json.decode(body)]
    except RecursionError:  # too deep: its lines, the deep one rejected as too_deep
        yield from body.splitlines()
        return
    except msgspec.DecodeError:
        docs = _json_values(body)  # pretty-printed values one after another, as ``jq .`` writes them
        if docs is None:
            yield from body.splitlines()
            return
    for doc in docs:
        yield from map(_encoded, _items(doc))


def _encoded(item: object) -> bytes:
    """An event of a document as a line; one holding a lone surrogate (a ``"\\ud800"`` escape), which msgspec will
    not encode, escaped as JSON wrote it, so the decoder gives it the verdict its NDJSON line gets (``bad_unicode``
    where it reads the string), not the whole file a traceback."""
    try:
        return msgspec.json.encode(item)
    except UnicodeEncodeError:
        return json.dumps(item).encode()


_SPACE = re.compile(r"\s+")


def _json_values(body: bytes) -> list[object] | None:
    """The JSON values of ``body`` written one after another with only white space between them (``jq .``'s output,
    ``json.dump(event, f, indent=2)`` per event), or None when it is not such a stream."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    decoder, values = json.JSONDecoder(), []
    at = _past_space(text, 0)
    try:
        while at < len(text):
            value, at = decoder.raw_decode(text, at)
            values.append(value)
            at = _past_space(text, at)
    except (json.JSONDecodeError, RecursionError):
        return None
    return values


def _past_space(text: str, at: int) -> int:
    space = _SPACE.match(text, at)
    return space.end() if space else at


def _parses(line: bytes) -> bool:
    try:
        msgspec.json.decode(line)
    except (msgspec.DecodeError, RecursionError):  # nested past the C decoder's stack: the decoder says too_deep
        return False
    return True


def _items(doc: object) -> list[object]:
    """A document's events: an array's items, a wrapper's (``wrappers.wrapped_events``), else the document."""
    if isinstance(doc, list):
        return doc
    wrapped = wrapped_events(doc)
    return [doc] if wrapped is None else wrapped
