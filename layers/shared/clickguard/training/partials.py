"""The map side of distributed training (issue 13): one archive partition -> its events as compact columns, split by
user shard. The work that grows with the archive and never depends on a model, done once per partition and cached.

* A **partition** is one hour folder of the archive (``events/YYYY/MM/DD/HH/``) as listed at run time: its objects'
  keys and entity tags. Its digest names the cached partial, so an hour that gains, loses or rewrites an object is
  computed again and an hour that did not change is read back (Firehose stops writing to an hour's folder once
  the hour and its buffer interval are over: a daily run computes one new day and reads six).
* The **map** (``map_partition``): every object decompressed as the trainer always has (``decompressed``), every line
  decoded by the trainer's total decoder (``EventColumns``: rejected lines counted by reason, never fatal), repeats
  of a producer's ``event_id`` dropped within the partition (the shard drops those across partitions, see
  ``training.shards``), then the events dealt to ``shards`` user shards by a stable hash of the user key
  (``shard_of``): every event of a user, in every partition, lands in the same shard.
* A **block** is one shard's events of one partition, in archive order, as integer columns over small string tables
  (users, tokens, session ids, event ids) plus each event's row in the partition: the row is what orders users by
  first appearance across the whole window (``first_seen``), as the single-pass trainer orders them.
* What shapes a partial is its ``Layout``: the format, the shard count and the user key source. The cache key holds
  its digest, so a change of any of them computes every partition afresh instead of reading stale columns.

Blocks are encoded with msgpack (``codec``); a partition's summary is written after its blocks, so its presence
means the partition is complete (a map that died half-way is simply redone).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from clickguard import settings
from clickguard.events import UserKeySource
from clickguard.model.codes import factorize, factorize_optional
from clickguard.training import codec
from clickguard.training.dataset import EventColumns, gunzip
from clickguard.training.pipeline import first_occurrences
from clickguard.training.ports import ArchiveStats

FORMAT = 1
_ROW_BITS = 32  # first_seen = partition ordinal << _ROW_BITS | row within the partition


def hour_prefix(prefix: str, when: datetime) -> str:
    """The archive folder of ``when``'s hour (Firehose's ``YYYY/MM/DD/HH/``): a partition."""
    return f"{prefix}{when:%Y/%m/%d/%H}/"


def decompressed(key: str, body: bytes, stats: ArchiveStats) -> bytes | None:
    """One archive object's NDJSON: gunzipped when it is gzip (trailing garbage or a cut-short member keep the whole
    lines before it, counted in ``cut_objects``); None, counted in ``bad_objects``, when nothing in it is valid."""
    stats.objects += 1
    stats.bytes += len(body)
    if not (key.endswith(".gz") or body[:2] == b"\x1f\x8b"):
        return body
    data, cut = gunzip(body)
    if cut and not data:
        stats.bad_objects += 1
        return None
    stats.cut_objects += cut
    return data


@dataclass(frozen=True)
class Partition:
    """One hour folder of the archive as listed: ``hour`` is ``YYYY/MM/DD/HH``, ``objects`` its (key, entity tag)
    pairs in key order."""

    hour: str
    objects: tuple[tuple[str, str], ...]
    size: int = 0  # the objects' bytes as stored (gzip): what the map reads

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for key, etag in self.objects:
            h.update(f"{key}\t{etag}\n".encode())
        return h.hexdigest()[:20]

    def as_dict(self) -> dict[str, Any]:
        return {"hour": self.hour, "objects": [list(o) for o in self.objects], "size": self.size}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Partition:
        return cls(str(data["hour"]), tuple((str(k), str(e)) for k, e in data["objects"]), int(data.get("size", 0)))


@dataclass(frozen=True)
class Layout:
    """What shapes a partition's partial, and where it is cached."""

    shards: int
    user_key_source: UserKeySource = UserKeySource.SESSION_USER_ID
    prefix: str = settings.PARTIALS_PREFIX

    def __post_init__(self) -> None:
        low, high = settings.TRAINING_SHARDS_RANGE
        if not low <= self.shards <= high:
            raise ValueError(f"shards must be in [{low}, {high}], got {self.shards}")

    @property
    def digest(self) -> str:
        spec = f"format={FORMAT}|shards={self.shards}|user_key={self.user_key_source.value}"
        return hashlib.sha256(spec.encode()).hexdigest()[:12]

    def folder(self, partition: Partition) -> str:
        return f"{self.prefix}{self.digest}/{partition.hour}/{partition.digest}/"

    def summary_key(self, partition: Partition) -> str:
        return f"{self.folder(partition)}summary.bin"

    def block_key(self, partition: Partition, shard: int) -> str:
        return f"{self.folder(partition)}shard-{shard:04d}.bin"


@dataclass
class Summary:
    """What a partition's map met: lines, decoded events, repeats dropped, rejections by reason, objects, and the
    shards that received events (the others have no block)."""

    lines: int = 0
    events: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    compressed_bytes: int = 0
    bad_objects: int = 0
    cut_objects: int = 0
    shards: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        return codec.encode(vars(self))

    @classmethod
    def decode(cls, data: bytes) -> Summary:
        return cls(**codec.decode(data))


@dataclass
class Block:
    """One shard's events of one partition, in archive order: codes into string tables (-1: no session id or event
    id) and each event's row in the partition."""

    users: list[str]
    user: np.ndarray  # int32 code into users
    tokens: list[str]
    token: np.ndarray  # int32 code into tokens
    ts_ms: np.ndarray  # int64
    sids: list[str]
    sid: np.ndarray  # int32 code into sids, -1 where none
    eids: list[str]
    eid: np.ndarray  # int32 code into eids, -1 where none
    row: np.ndarray  # int32: the event's position among the partition's decoded events

    def __len__(self) -> int:
        return len(self.user)

    def encode(self) -> bytes:
        return codec.encode(vars(self))

    @classmethod
    def decode(cls, data: bytes) -> Block:
        return cls(**codec.decode(data))


def shard_of(user: str, shards: int) -> int:
    """The user's shard: a stable hash (not Python's salted ``hash``), the same in every process and run."""
    return zlib.crc32(user.encode("utf-8", "surrogatepass")) % shards


def _local(codes: np.ndarray, idx: np.ndarray, table: list[Any]) -> tuple[list[Any], np.ndarray]:
    """Codes of the events ``idx`` renumbered into a table of just the values they use (-1 stays -1)."""
    mine = codes[idx]
    present = mine >= 0
    used, inverse = np.unique(mine[present], return_inverse=True)
    out = np.full(len(mine), -1, dtype=np.int32)
    out[present] = inverse
    return [table[c] for c in used.tolist()], out


def blocks_of(cols: EventColumns, shards: int) -> dict[int, Block]:
    """The events of ``cols`` (one partition, archive order) dealt to their users' shards."""
    ucode, users = factorize(cols.users)
    shard = np.array([shard_of(u, shards) for u in users], dtype=np.int64)[ucode]
    tcode, tokens = factorize(cols.tokens)
    scode, sids = factorize_optional(cols.session_ids)
    ecode, eids = factorize_optional(cols.event_ids)
    ts = np.asarray(cols.ts_ms, dtype=np.int64)
    order = np.argsort(shard, kind="stable")
    bounds = np.flatnonzero(np.diff(shard[order])) + 1
    out: dict[int, Block] = {}
    for idx in np.split(order, bounds) if len(order) else []:
        u_names, u = _local(ucode, idx, users)
        t_names, t = _local(tcode, idx, tokens)
        s_names, s = _local(scode, idx, sids)
        e_names, e = _local(ecode, idx, eids)
        out[int(shard[idx[0]])] = Block(u_names, u, t_names, t, ts[idx], s_names, s, e_names, e, idx.astype(np.int32))
    return out


def map_partition(
    objects: Iterable[tuple[str, bytes]], source: UserKeySource, shards: int
) -> tuple[Summary, dict[int, Block]]:
    """One partition's objects ``(key, raw body)`` in key order -> its summary and one block per shard with events."""
    stats = ArchiveStats()
    cols = EventColumns()
    bodies = (data for key, body in objects if (data := decompressed(key, body, stats)) is not None)
    cols.add_objects(bodies, source)
    n = len(cols)
    keep = first_occurrences(cols)
    kept = cols if keep is None else cols.subset(keep)
    blocks = blocks_of(kept, shards)
    if keep is not None:  # rows count decoded events, repeats included: the order of first appearance
        rows = np.asarray(keep, dtype=np.int32)
        for block in blocks.values():
            block.row = rows[block.row]
    summary = Summary(
        lines=cols.lines,
        events=n,
        duplicates=n - len(kept),
        rejected=dict(sorted(cols.rejected.items())),
        objects=stats.objects,
        compressed_bytes=stats.bytes,
        bad_objects=stats.bad_objects,
        cut_objects=stats.cut_objects,
        shards=sorted(blocks),
    )
    return summary, blocks


def first_seen(ordinal: int, rows: np.ndarray) -> np.ndarray:
    """Each event's place in the window's archive order: partition ordinal, then row within the partition."""
    return (np.int64(ordinal) << _ROW_BITS) | rows.astype(np.int64)
