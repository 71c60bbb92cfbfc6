"""Ground truth in bulk: read outcomes from a CSV or JSON Lines file and post them to a gateway.

File formats (``canaryline feedback MODEL FILE``):

* ``.csv``: a header row with columns ``request_id`` and ``outcome`` (optionally ``observed_at``),
  then one request per row. An ``outcome`` cell is read as JSON when it is valid JSON (``2``,
  ``1.5``, ``[0, 2]``, ``"7"`` for the text label 7), else as text (``setosa``).
* ``.jsonl`` (or ``.ndjson``): one JSON object per line with ``request_id``, ``outcome`` and
  optionally ``observed_at``; blank lines are skipped.

:func:`read_feedback` streams the file and yields a :class:`FeedbackLine` per readable line and a
:class:`Refusal` per unreadable one; :func:`post_feedback_lines` posts them with a bounded number
of requests in flight and returns a :class:`Summary`. A file that cannot be read (unknown extension,
missing CSV columns) is a :class:`~registry_client.errors.FeedbackFileError`; a gateway that becomes
unreachable stops the posting with :class:`~registry_client.errors.GatewayUnavailableError`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from registry_client.client.gateway import GatewayClient
from registry_client.errors import FeedbackFileError, GatewayClientError, GatewayUnavailableError

__all__ = [
    "FeedbackLine",
    "Refusal",
    "Summary",
    "post_feedback_lines",
    "read_feedback",
]


@dataclass(frozen=True, slots=True)
class FeedbackLine:
    """One outcome to post; ``line`` is its 1-based line in the file (a CSV header is line 1)."""

    line: int
    request_id: str
    outcome: Any
    observed_at: Any = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A line that was not accepted: unreadable (``status`` None) or refused by the gateway."""

    line: int
    request_id: str | None
    code: str
    message: str
    status: int | None = None


@dataclass(slots=True)
class Summary:
    accepted: int = 0
    replaced: int = 0  # accepted lines that replaced an earlier outcome of their request
    refused: list[Refusal] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether a line failed for a reason other than its content (the gateway answered 5xx)."""
        return any(r.status is not None and r.status >= 500 for r in self.refused)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "replaced": self.replaced,
            "refused": len(self.refused),
            "refusals": [asdict(r) for r in sorted(self.refused, key=lambda r: r.line)],
        }


def read_feedback(path: Path) -> Iterator[FeedbackLine | Refusal]:
    """Each line of ``path`` as a :class:`FeedbackLine`, or a :class:`Refusal` saying why it cannot be read."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    raise FeedbackFileError(f"cannot read feedback from {str(path)!r}: use a .csv or .jsonl file")


def _read_csv(path: Path) -> Iterator[FeedbackLine | Refusal]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        missing = [name for name in ("request_id", "outcome") if name not in columns]
        if missing:
            raise FeedbackFileError(
                f"{str(path)!r}: the header must name columns request_id and outcome; missing {', '.join(missing)}"
            )
        for row in reader:
            line = reader.line_num
            request_id = (row.get("request_id") or "").strip()
            cell = (row.get("outcome") or "").strip()
            if not request_id:
                yield Refusal(line, None, "invalid_line", "column request_id is empty")
            elif not cell:
                yield Refusal(line, request_id, "invalid_line", "column outcome is empty")
            else:
                observed = (row.get("observed_at") or "").strip() or None
                yield FeedbackLine(line, request_id, _cell(cell), observed)


def _cell(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _read_jsonl(path: Path) -> Iterator[FeedbackLine | Refusal]:
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                item = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield Refusal(line, None, "invalid_line", f"not valid JSON: {exc}")
                continue
            if not isinstance(item, dict):
                yield Refusal(line, None, "invalid_line", "must be a JSON object with request_id and outcome")
                continue
            request_id = item.get("request_id")
            if not isinstance(request_id, str) or not request_id:
                yield Refusal(line, None, "invalid_line", "field request_id must be a non-empty string")
            elif item.get("outcome") is None:
                yield Refusal(line, request_id, "invalid_line", "field outcome is required")
            else:
                yield FeedbackLine(line, request_id, item["outcome"], item.get("observed_at"))


def post_feedback_lines(
    client: GatewayClient,
    items: Iterable[FeedbackLine | Refusal],
    *,
    model: str | None = None,
    concurrency: int = 8,
    on_done: Callable[[], None] = lambda: None,
) -> Summary:
    """Post every line with at most ``concurrency`` requests in flight; ``on_done`` is called per line.

    Reading stays at most ``2 * concurrency`` lines ahead of the answers, so memory is bounded. With
    ``model``, each outcome must belong to a request served by that model (else the line is refused).
    When the gateway becomes unreachable posting stops and the GatewayClientError is raised.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    summary = Summary()
    unreachable: GatewayClientError | None = None

    def post(item: FeedbackLine) -> dict[str, Any] | Refusal:
        try:
            return client.post_feedback(item.request_id, item.outcome, observed_at=item.observed_at, model=model)
        except GatewayClientError as exc:
            return Refusal(item.line, item.request_id, exc.code, exc.message, exc.status)

    def settle(futures: Iterable[Future[dict[str, Any] | Refusal]]) -> None:
        nonlocal unreachable
        for future in futures:
            result = future.result()
            if isinstance(result, Refusal):
                summary.refused.append(result)
                if result.code == "unreachable" and unreachable is None:
                    unreachable = GatewayUnavailableError(result.message, status=503, code="unreachable")
            else:
                summary.accepted += 1
                summary.replaced += bool(result.get("replaced"))
            on_done()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="canaryline-feedback") as pool:
        pending: set[Future[dict[str, Any] | Refusal]] = set()
        for item in items:
            if unreachable is not None:
                break
            if isinstance(item, Refusal):
                summary.refused.append(item)
                on_done()
                continue
            if len(pending) >= 2 * concurrency:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                settle(done)
            pending.add(pool.submit(post, item))
        settle(wait(pending).done)
    if unreachable is not None:
        raise GatewayUnavailableError(
            f"{unreachable.message} (stopped after {summary.accepted} accepted lines)", status=503, code="unreachable"
        )
    return summary
