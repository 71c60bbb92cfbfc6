"""The hand-off of records from the event loop to the log writer thread: one queue item per loop tick.

Under load, the requests a micro-batched model call answered all write their records in the same tick of
the event loop. Put on the writer's queue one by one, each ``put`` may wake the writer thread, which then
takes the GIL for one record while the loop still has the others to hand over: about five context switches
per request were measured with ack logging against one with logging off (load_tests/README.md). So the
records of one tick are gathered per loop, and the first of them schedules (``call_soon``) one ``put`` of
them all for the end of the tick: one wake-up and one group-commit write per tick.

Nothing is lost on the way: a request in ``ack`` mode answers only once its record's future is settled, which
happens after the writer has it; :meth:`Handoff.drain` gives the writer (and ``close``) whatever a loop has
gathered but not yet handed over, so a record written in ``async`` mode just before stopping is still flushed.
"""

from __future__ import annotations

import asyncio
import queue

from service.prediction_log.acks import Pending

__all__ = ["Handoff"]


class Handoff:
    """Gathers the records written in one loop tick and puts them on ``target`` as one list.

    Loop-side methods run on the loop's thread; the dict of per-loop buffers is only changed by single
    operations (``setdefault`` / ``pop``), atomic under the GIL, so :meth:`drain` may run on any thread.
    """

    def __init__(self, target: queue.SimpleQueue[list[Pending] | object]) -> None:
        self._target = target
        self._gathered: dict[asyncio.AbstractEventLoop, list[Pending]] = {}

    def add(self, loop: asyncio.AbstractEventLoop, pending: Pending) -> None:
        """Gather ``pending``; the first record of a tick schedules the hand-over for the end of the tick."""
        gathered = self._gathered.get(loop)
        if gathered is not None:
            gathered.append(pending)
            return
        self._gathered[loop] = [pending]
        loop.call_soon(self._hand_over, loop)

    def put(self, pending: Pending) -> None:
        """Hand over ``pending`` at once (from a thread with no loop: shadow records)."""
        self._target.put([pending])

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        gathered = self._gathered.pop(loop, None)
        if gathered:
            self._target.put(gathered)

    def drain(self) -> list[Pending]:
        """Everything gathered and not yet handed over, taken from every loop."""
        taken: list[Pending] = []
        for loop in list(self._gathered):
            taken.extend(self._gathered.pop(loop, []))
        return taken
