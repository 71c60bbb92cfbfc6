"""Acknowledgements: how the prediction log's threads answer the requests that wait on their records.

A request in ``ack`` mode awaits an asyncio future on its own event loop; the writer and drainer threads
settle it with ``call_soon_threadsafe``, one call per loop and batch. Each :class:`Pending` remembers that
it was settled, so a thread that fails half-way through a batch settles exactly the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass

from registry_client.domain.records import PredictionRecord

__all__ = ["Pending", "settle"]


@dataclass(slots=True)
class Pending:
    """A record on its way to the log, and the future its request awaits (None: nobody waits)."""

    record: PredictionRecord
    future: asyncio.Future[None] | None
    settled: bool = False


def settle(batch: list[Pending], error: BaseException | None) -> None:
    """Answer every waiting request of ``batch``: accepted (``error`` None) or refused with ``error``."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = defaultdict(list)
    for pending in batch:
        pending.settled = True
        if pending.future is not None:
            by_loop[pending.future.get_loop()].append(pending.future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop closed while we wrote: nobody waits any more
            loop.call_soon_threadsafe(_resolve, futures, error)


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
