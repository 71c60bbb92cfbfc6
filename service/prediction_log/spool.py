"""The local spool: where prediction records wait while the store is unreachable.

Append-only JSON lines, one file per worker process (``spool-<uuid>.jsonl`` under the spool folder),
fsynced after every batch, bounded in size. Each worker holds an exclusive ``flock`` on its own file;
at start-up a worker claims every unlocked file left by a process that stopped before draining it, so
nothing spooled is forgotten. Draining re-sends records in order; records are idempotent on
prediction_id in the store, so a crash mid-drain only means some are sent twice.

**Disk faults.** A batch is written with ``pwrite`` at the end we know of and fsynced; when the write or
the fsync fails (ENOSPC, EROFS, EIO) the file is truncated back to its previous size, so a failed batch
leaves the file as it was and is never half acknowledged (if even the truncation fails, it is retried
before the next write, and nothing past the known end is ever read). The failure raises
:class:`SpoolUnavailableError`, naming the path and the errno. A folder that cannot be written at start-up
(read-only mount, no space) does not stop the worker: :attr:`Spool.error` says why, and :meth:`Spool.probe`
tries again. The drain still skips a torn last line, which only a crash mid-write can leave.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from registry_client.domain.records import PredictionRecord
from registry_client.errors import SpoolUnavailableError

__all__ = ["Spool", "SpoolFile", "check_writable", "spool_unavailable"]

_READ_BLOCK = 1 << 18
_PROBE_BYTES = 4096


def spool_unavailable(path: Path, exc: OSError) -> SpoolUnavailableError:
    """The error for a failed spool write at ``path``: its message names the path and what the disk answered."""
    errno_name = errno.errorcode.get(exc.errno or 0, "EUNKNOWN")
    reason = exc.strerror or str(exc)
    return SpoolUnavailableError(f"{path}: {errno_name} ({reason})", errno_name=errno_name, reason=reason)


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and write, fsync and remove a small file in it; SpoolUnavailableError if not."""
    path = folder / f".probe-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0" * _PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise spool_unavailable(folder, exc) from exc


@dataclass
class SpoolFile:
    path: Path
    fd: int
    offset: int = 0  # bytes already drained
    size: int = 0  # bytes of whole lines written (a failed write never counts)
    #: A failed write could not be truncated away: truncate to ``size`` before writing again.
    dirty: bool = False

    @property
    def pending(self) -> int:
        return self.size - self.offset


class Spool:
    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.own: SpoolFile | None = None
        self.claimed: list[SpoolFile] = []
        #: True once a batch did not fit under ``max_bytes``; False again when draining made room.
        self.full = False
        #: Why the spool cannot be written (path and errno), or None while it can.
        self.failure: SpoolUnavailableError | None = None
        #: Lines skipped while draining because they were not a whole record (a damaged file).
        self.corrupt = 0
        self._lock = threading.Lock()
        try:
            self._open_own()
            self._claim_orphans()
        except SpoolUnavailableError as exc:
            self.failure = exc

    # -- files ---------------------------------------------------------------------------------
    def _open_own(self) -> SpoolFile:
        if self.own is None:
            path = self.folder / f"spool-{uuid.uuid4().hex}.jsonl"
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                self.own = self._open(path)
            except OSError as exc:
                raise spool_unavailable(path, exc) from exc
        return self.own

    @staticmethod
    def _open(path: Path) -> SpoolFile:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        return SpoolFile(path, fd, size=os.fstat(fd).st_size)

    def _claim_orphans(self) -> None:
        """Take over spool files left by stopped processes; files a live process holds are left alone."""
        for path in sorted(self.folder.glob("spool-*.jsonl")):
            if (self.own and path == self.own.path) or any(f.path == path for f in self.claimed):
                continue
            try:
                claimed = self._open(path)
            except OSError:  # BlockingIOError: a live process holds it; others: it vanished or is unreadable
                continue
            if claimed.size == 0:
                self._discard(claimed)
            else:
                self.claimed.append(claimed)

    @staticmethod
    def _discard(spool_file: SpoolFile) -> None:
        with contextlib.suppress(OSError):  # a read-only disk: the next process claims it again (idempotent)
            spool_file.path.unlink(missing_ok=True)
        os.close(spool_file.fd)  # closing releases the lock

    # -- state -----------------------------------------------------------------------------------
    @property
    def pending_bytes(self) -> int:
        own = self.own.pending if self.own else 0
        return own + sum(f.pending for f in self.claimed)

    def has_pending(self) -> bool:
        return self.pending_bytes > 0

    @property
    def available(self) -> bool:
        return self.failure is None

    @property
    def error(self) -> str | None:
        return self.failure.message if self.failure else None

    def probe(self) -> None:
        """Try the disk again (open our file, write and remove a probe file); SpoolUnavailableError while it fails."""
        with self._lock:
            try:
                self._open_own()
                check_writable(self.folder)
                self._claim_orphans()
            except SpoolUnavailableError as exc:
                self.failure = exc
                raise
            self.failure = None

    # -- writing ---------------------------------------------------------------------------------
    def fitting(self, records: Sequence[PredictionRecord]) -> list[bytes]:
        """Encoded lines for the longest prefix of ``records`` that fits under ``max_bytes`` (own file)."""
        room = self.max_bytes - (self.own.pending if self.own else 0)
        lines: list[bytes] = []
        for record in records:
            line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
            room -= len(line)
            if room < 0:
                self.full = True
                break
            lines.append(line)
        return lines

    def append(self, lines: list[bytes]) -> None:
        """Append one batch and make it durable before the caller acknowledges it; all or nothing."""
        data = b"".join(lines)
        with self._lock:
            own = self._open_own()
            start = own.size
            try:
                if own.dirty:
                    os.ftruncate(own.fd, start)
                    own.dirty = False
                view = memoryview(data)
                done = 0
                while done < len(data):
                    done += os.pwrite(own.fd, view[done:], start + done)
                os.fsync(own.fd)
            except OSError as exc:
                self._undo(own, start)
                self.failure = spool_unavailable(own.path, exc)
                raise self.failure from exc
            own.size += len(data)
            self.failure = None

    @staticmethod
    def _undo(own: SpoolFile, size: int) -> None:
        """Cut a failed write off, so the file holds whole acknowledged lines only."""
        try:
            os.ftruncate(own.fd, size)
        except OSError:
            own.dirty = True

    # -- draining --------------------------------------------------------------------------------
    def next_chunk(self, max_records: int) -> tuple[SpoolFile, list[PredictionRecord], int] | None:
        """The oldest undrained records (claimed files first, then our own) and the bytes they span."""
        with self._lock:
            for spool_file in [*self.claimed, *([self.own] if self.own else [])]:
                if spool_file.pending <= 0:
                    continue
                records: list[PredictionRecord] = []
                consumed = 0
                for line in _lines(spool_file, max_records):
                    consumed += len(line)
                    if not line.endswith(b"\n"):  # a torn last line (crash mid-write) was never acknowledged
                        continue
                    try:
                        records.append(PredictionRecord(**orjson.loads(line)))
                    except (orjson.JSONDecodeError, TypeError):
                        self.corrupt += 1  # not a record we wrote whole: skipped, counted, never resent
                return spool_file, records, consumed
        return None

    def mark_drained(self, spool_file: SpoolFile, consumed: int) -> None:
        with self._lock:
            spool_file.offset += consumed
            self.full = False
            if spool_file.pending > 0:
                return
            if spool_file is self.own:
                try:
                    os.ftruncate(spool_file.fd, 0)
                    os.fsync(spool_file.fd)
                except OSError:
                    return  # keep the offset: nothing is sent twice by this process
                spool_file.offset = spool_file.size = 0
                spool_file.dirty = False
            else:
                self.claimed.remove(spool_file)
                self._discard(spool_file)

    def close(self) -> None:
        """Release our files; an empty own file is removed, a non-empty one waits for the next process."""
        with self._lock:
            for spool_file in [*self.claimed, *([self.own] if self.own else [])]:
                if spool_file.pending <= 0:
                    with contextlib.suppress(OSError):  # read-only: the next process finds it empty, removes it
                        spool_file.path.unlink(missing_ok=True)
                os.close(spool_file.fd)
            self.claimed = []
            self.own = None


def _lines(spool_file: SpoolFile, limit: int) -> Iterator[bytes]:
    """Up to ``limit`` lines from the drained offset to the known end; a last piece without newline too."""
    position, end = spool_file.offset, spool_file.size
    buffer = b""
    start = count = 0
    while count < limit:
        newline = buffer.find(b"\n", start)
        if newline >= 0:
            yield buffer[start : newline + 1]
            start = newline + 1
            count += 1
            continue
        block = os.pread(spool_file.fd, min(_READ_BLOCK, end - position), position) if position < end else b""
        if not block:  # the known end (or the file is shorter than we knew): what is left is torn
            if start < len(buffer):
                yield buffer[start:]
            return
        position += len(block)
        buffer = buffer[start:] + block
        start = 0
