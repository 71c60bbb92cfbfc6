"""The local spool: where prediction records wait while the store is unreachable.

Append-only JSON lines, one file per worker process (``spool-<uuid>.jsonl`` under the spool folder),
flushed and fsynced after every batch, bounded in size. Each worker holds an exclusive ``flock`` on
its own file; at start-up a worker claims every unlocked file left by a process that stopped before
draining it, so nothing spooled is forgotten. Draining re-sends records in order; records are
idempotent on prediction_id in the store, so a crash mid-drain only means some are sent twice.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from registry_client.records import PredictionRecord

__all__ = ["Spool", "SpoolFile"]


@dataclass
class SpoolFile:
    path: Path
    handle: IO[bytes]
    offset: int = 0  # bytes already drained
    size: int = field(default=0)

    @property
    def pending(self) -> int:
        return self.size - self.offset


class Spool:
    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        self.own = self._open(folder / f"spool-{uuid.uuid4().hex}.jsonl")
        self.claimed: list[SpoolFile] = [f for f in (self._claim(p) for p in sorted(folder.glob("spool-*.jsonl"))) if f]

    @staticmethod
    def _open(path: Path) -> SpoolFile:
        handle = path.open("a+b")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return SpoolFile(path, handle, size=handle.seek(0, os.SEEK_END))

    def _claim(self, path: Path) -> SpoolFile | None:
        """Take over a spool file left by a stopped process; None when a live process holds it."""
        if path == self.own.path:
            return None
        try:
            claimed = self._open(path)
        except BlockingIOError:
            return None
        if claimed.size == 0:
            self._discard(claimed)
            return None
        return claimed

    @property
    def pending_bytes(self) -> int:
        return self.own.pending + sum(f.pending for f in self.claimed)

    def has_pending(self) -> bool:
        return self.pending_bytes > 0

    def fitting(self, records: Sequence[PredictionRecord]) -> list[bytes]:
        """Encoded lines for the longest prefix of ``records`` that fits under ``max_bytes`` (own file)."""
        room = self.max_bytes - self.own.pending
        lines: list[bytes] = []
        for record in records:
            line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
            room -= len(line)
            if room < 0:
                break
            lines.append(line)
        return lines

    def append(self, lines: list[bytes]) -> None:
        """Append one batch and make it durable before the caller acknowledges it."""
        data = b"".join(lines)
        self.own.handle.seek(0, os.SEEK_END)
        self.own.handle.write(data)
        self.own.handle.flush()
        os.fsync(self.own.handle.fileno())
        self.own.size += len(data)

    def next_chunk(self, max_records: int) -> tuple[SpoolFile, list[PredictionRecord], int] | None:
        """The oldest undrained records (claimed files first, then our own) and the bytes they span."""
        for spool_file in [*self.claimed, self.own]:
            if spool_file.pending <= 0:
                continue
            spool_file.handle.seek(spool_file.offset)
            records: list[PredictionRecord] = []
            consumed = 0
            for line in _lines(spool_file.handle, max_records):
                consumed += len(line)
                if line.endswith(b"\n"):  # a torn last line (crash mid-write) is never acknowledged: skip it
                    records.append(PredictionRecord(**orjson.loads(line)))
            return spool_file, records, consumed
        return None

    def mark_drained(self, spool_file: SpoolFile, consumed: int) -> None:
        spool_file.offset += consumed
        if spool_file.pending > 0:
            return
        if spool_file is self.own:
            spool_file.handle.truncate(0)
            spool_file.handle.flush()
            os.fsync(spool_file.handle.fileno())
            spool_file.offset = spool_file.size = 0
        else:
            self.claimed.remove(spool_file)
            self._discard(spool_file)

    @staticmethod
    def _discard(spool_file: SpoolFile) -> None:
        spool_file.path.unlink(missing_ok=True)
        spool_file.handle.close()  # closing releases the lock

    def close(self) -> None:
        """Release our files; an empty own file is removed, a non-empty one waits for the next process."""
        for spool_file in [*self.claimed, self.own]:
            if spool_file.pending <= 0:
                spool_file.path.unlink(missing_ok=True)
            spool_file.handle.close()
        self.claimed = []


def _lines(handle: IO[bytes], limit: int) -> Iterator[bytes]:
    for _ in range(limit):
        line = handle.readline()
        if not line:
            return
        yield line
