"""Points in time as users write them: ISO 8601 text or seconds since the epoch.

Used for ``observed_at`` in ``POST /feedback`` and for ``--since`` / ``--until`` on the CLI; both
end up as epoch seconds, the unit of :attr:`PredictionRecord.ts <registry_client.domain.records.PredictionRecord.ts>`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from registry_client.errors import TimestampError

__all__ = ["parse_timestamp"]


def parse_timestamp(value: Any) -> float:
    """Epoch seconds from a number, numeric text (``"1700000000.5"``) or ISO 8601 text.

    ISO 8601 without an offset is taken as UTC. Booleans, NaN and infinities are refused with
    :class:`TimestampError`, whose message says what was wrong (callers prefix the field name).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TimestampError(f"must be ISO 8601 text or epoch seconds, not {type(value).__name__}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return _iso(value.strip())
    try:
        seconds = float(value)
    except OverflowError:
        raise TimestampError(f"must be a finite number of epoch seconds, not {value}") from None
    if not math.isfinite(seconds):
        raise TimestampError(f"must be a finite number of epoch seconds, not {value}")
    return seconds


def _iso(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimestampError(f"must be ISO 8601 text or epoch seconds, not {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
