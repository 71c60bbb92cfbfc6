"""Reading ground-truth files for `canaryline feedback`: CSV and JSON Lines, line by line, refusals named."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_client.client.bulk_feedback import FeedbackLine, Refusal, Summary, read_feedback
from registry_client.errors import FeedbackFileError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_cells_are_json_when_they_parse_and_text_otherwise(tmp_path: Path) -> None:
    """2 is an int, 1.5 a float, [0, 2] a list, "7" the text 7, setosa the text setosa."""
    path = write(
        tmp_path,
        "outcomes.csv",
        'request_id,outcome\nr1,2\nr2,1.5\nr3,"[0, 2]"\nr4,"""7"""\nr5,setosa\n',
    )
    assert list(read_feedback(path)) == [
        FeedbackLine(2, "r1", 2),
        FeedbackLine(3, "r2", 1.5),
        FeedbackLine(4, "r3", [0, 2]),
        FeedbackLine(5, "r4", "7"),
        FeedbackLine(6, "r5", "setosa"),
    ]


def test_csv_reads_observed_at_a_bom_and_any_column_order(tmp_path: Path) -> None:
    """An Excel BOM, reordered columns and an observed_at column are all understood."""
    path = tmp_path / "outcomes.csv"
    path.write_bytes("\ufeffobserved_at,outcome,request_id\n2024-01-02T03:04:05Z,1,r1\n,0,r2\n".encode())
    assert list(read_feedback(path)) == [
        FeedbackLine(2, "r1", 1, "2024-01-02T03:04:05Z"),
        FeedbackLine(3, "r2", 0, None),
    ]


def test_csv_lines_without_an_id_or_outcome_are_refused_by_line(tmp_path: Path) -> None:
    """An empty request_id or outcome cell becomes a Refusal naming the line; the rest still read."""
    path = write(tmp_path, "outcomes.csv", "request_id,outcome\n,1\nr2,\nr3,1\n")
    assert list(read_feedback(path)) == [
        Refusal(2, None, "invalid_line", "column request_id is empty"),
        Refusal(3, "r2", "invalid_line", "column outcome is empty"),
        FeedbackLine(4, "r3", 1),
    ]


def test_csv_without_the_required_columns_is_refused_whole(tmp_path: Path) -> None:
    """A header missing the outcome column raises FeedbackFileError (422) naming it."""
    path = write(tmp_path, "outcomes.csv", "request_id,label\nr1,1\n")
    with pytest.raises(FeedbackFileError, match="missing outcome") as caught:
        list(read_feedback(path))
    assert caught.value.status == 422


def test_jsonl_reads_objects_and_skips_blank_lines(tmp_path: Path) -> None:
    """Each object line is one outcome with native JSON values; blank lines are skipped, numbering kept."""
    path = write(
        tmp_path,
        "outcomes.jsonl",
        '{"request_id": "r1", "outcome": [0, 1]}\n\n{"request_id": "r2", "outcome": "a", "observed_at": 1.5}\n',
    )
    assert list(read_feedback(path)) == [FeedbackLine(1, "r1", [0, 1]), FeedbackLine(3, "r2", "a", 1.5)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"outcome": 1}', "field request_id must be a non-empty string"),
        ('{"request_id": 5, "outcome": 1}', "field request_id must be a non-empty string"),
        ('{"request_id": "r1"}', "field outcome is required"),
        ('{"request_id": "r1", "outcome": null}', "field outcome is required"),
    ],
)
def test_jsonl_lines_that_cannot_be_read_are_refused_by_line(tmp_path: Path, line: str, reason: str) -> None:
    """A bad line becomes a Refusal with its line number and reason; the next line still reads."""
    path = write(tmp_path, "outcomes.jsonl", line + '\n{"request_id": "ok", "outcome": 1}\n')
    refusal, good = list(read_feedback(path))
    assert isinstance(refusal, Refusal) and refusal.line == 1 and reason in refusal.message
    assert refusal.status is None and refusal.code == "invalid_line"
    assert good == FeedbackLine(2, "ok", 1)


def test_other_extensions_are_refused(tmp_path: Path) -> None:
    """Only .csv, .jsonl and .ndjson files are read."""
    with pytest.raises(FeedbackFileError, match=r"use a \.csv or \.jsonl file"):
        read_feedback(write(tmp_path, "outcomes.txt", "r1,1\n"))


def test_summary_reports_refusals_in_line_order_and_failures() -> None:
    """The summary lists refusals by line; a 5xx refusal marks the run failed, a 4xx does not."""
    summary = Summary(accepted=3, replaced=1, refused=[Refusal(9, "b", "unknown_request", "gone", 404)])
    summary.refused.append(Refusal(2, None, "invalid_line", "bad"))
    assert summary.to_dict()["refused"] == 2
    assert [r["line"] for r in summary.to_dict()["refusals"]] == [2, 9]
    assert not summary.failed
    summary.refused.append(Refusal(4, "c", "store_unavailable", "down", 503))
    assert summary.failed
