"""Distributed training on one machine (issue 13): the map and the shard passes on a pool of worker processes, one
per core, as the Step Functions state machine runs them on Lambda (``clickguard.training.distributed.Executor``).

The parent does every read and write (the archive, the partial cache: an emulator's S3 or a directory), so workers
never need credentials or an endpoint; workers decode and compute. The map deals partitions to whichever worker is
free, a few in flight per worker, so the parent holds a bounded number of archive objects. For the passes each
shard belongs to one worker (shard ``s`` to worker ``s % workers``), which loads and prepares it once and keeps it
between passes: a pass then costs only its computation, and its request and results cross the process boundary.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clickguard.training import codec, mapreduce, shards
from clickguard.training.distributed import Partials, PartitionReader, map_encoded
from clickguard.training.partials import Block, Layout, Partition, Summary

IN_FLIGHT_PER_WORKER = 2  # map tasks queued per worker: objects held by the parent at once


@dataclass(frozen=True)
class _Map:
    index: int
    objects: list[tuple[str, bytes]]
    layout: Layout


@dataclass(frozen=True)
class _Open:
    spec: dict[str, Any]
    blocks: dict[int, list[tuple[int, bytes]]]  # shard -> its blocks, with their partitions' ordinals


def _map(task: _Map) -> tuple[int, Any]:
    return task.index, map_encoded(task.objects, task.layout)


def _prepare(task: _Open) -> dict[int, shards.Prepared]:
    spec = mapreduce.RunSpec.from_dict(task.spec)
    return {
        s: shards.prepare(*shards.load([(i, Block.decode(b)) for i, b in blocks]), spec.blocked, spec.params)
        for s, blocks in task.blocks.items()
    }


def _worker(maps: Any, own: Any, results: Any) -> None:
    """Map tasks from the shared queue until its sentinel, then this worker's shards' operations."""
    try:
        for task in iter(maps.get, None):
            results.put(("map", *_map(task)))
        prepared: dict[int, shards.Prepared] = {}
        for kind, payload in iter(own.get, None):
            if kind == "open":
                prepared = _prepare(payload)
                results.put(("open", len(prepared), None))
            else:
                request = codec.decode(payload)
                out = {s: codec.encode(shards.run_pass(p, request)) for s, p in prepared.items()}
                results.put(("pass", 0, out))
    except BaseException as exc:  # reported to the parent, which raises it
        results.put(("error", 0, f"{type(exc).__name__}: {exc}"))


class PoolExecutor:
    """``distributed.Executor`` on ``workers`` processes (default: every core)."""

    def __init__(self, archive: PartitionReader, partials: Partials, workers: int | None = None) -> None:
        self.archive, self.partials = archive, partials
        self.workers = max(1, workers or os.cpu_count() or 1)
        ctx = mp.get_context("spawn")  # no fork of a parent that runs threads (an emulator, a thread pool)
        self._maps = ctx.Queue()
        self._own = [ctx.Queue() for _ in range(self.workers)]
        self._results = ctx.Queue()
        self._procs = [
            ctx.Process(target=_worker, args=(self._maps, own, self._results), daemon=True) for own in self._own
        ]
        for proc in self._procs:
            proc.start()
        self._mapping_done = False
        self._shards = 0

    def _get(self) -> tuple[str, int, Any]:
        while True:
            try:
                kind, key, payload = self._results.get(timeout=5)
            except queue.Empty:
                if not all(p.is_alive() for p in self._procs):
                    raise RuntimeError("a training worker process died") from None
                continue
            if kind == "error":
                raise RuntimeError(f"a training worker failed: {payload}")
            return kind, key, payload

    def map_partitions(self, partitions: Sequence[Partition]) -> None:
        layout, limit = self.partials.layout, self.workers * IN_FLIGHT_PER_WORKER
        pending = 0
        for index, partition in enumerate(partitions):
            if pending >= limit:
                self._store(partitions)
                pending -= 1
            self._maps.put(_Map(index, list(self.archive.objects(partition)), layout))
            pending += 1
        for _ in range(pending):
            self._store(partitions)
        self._end_mapping()

    def _store(self, partitions: Sequence[Partition]) -> None:
        _, index, partial = self._get()
        self.partials.put(partitions[index], partial)

    def _end_mapping(self) -> None:
        if not self._mapping_done:
            for _ in self._procs:
                self._maps.put(None)
            self._mapping_done = True

    def open(self, spec: mapreduce.RunSpec, summaries: Sequence[Summary]) -> None:
        self._end_mapping()
        self._shards = spec.layout.shards
        for w, own in enumerate(self._own):
            mine = {
                s: self.partials.shard_blocks(spec.partitions, summaries, s)
                for s in range(w, spec.layout.shards, self.workers)
            }
            own.put(("open", _Open(spec.as_dict(), mine)))
        for _ in self._own:
            self._get()

    def run_pass(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        payload = codec.encode(request)
        for own in self._own:
            own.put(("pass", payload))
        out: dict[int, bytes] = {}
        for _ in self._own:
            _, _, results = self._get()
            out.update(results)
        return [codec.decode(out[s]) for s in range(self._shards)]

    def close(self) -> None:
        self._end_mapping()
        for own in self._own:
            own.put(None)
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
