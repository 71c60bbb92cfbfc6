"""A rollout's spec from options and YAML, its state's transitions and how its status reads: pure values."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from registry_client.cli.rollout import describe
from registry_client.domain.plan import Plan
from registry_client.errors import RolloutConflictError, RolloutError
from registry_client.rollout.spec import build_spec, parse_duration, read_spec_file, thresholds_of
from registry_client.rollout.state import begin, ended, moved, paused, resumed, snapshot

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("30s", 30.0), ("10m", 600.0), ("1.5h", 5400.0), ("2d", 172800.0), (5, 5.0)]
)
def test_durations_read_with_their_units(text: str | int, seconds: float) -> None:
    """Seconds, minutes, hours and days, with or without a unit."""
    assert parse_duration(text) == seconds


def test_a_bad_duration_names_its_option() -> None:
    """A duration that does not parse is refused naming the option."""
    with pytest.raises(RolloutError, match="step-duration: 'ten minutes'"):
        build_spec({"model": "iris", "version": "v2", "reason": "r", "step_duration": "ten minutes"})


def test_options_become_a_spec_with_its_thresholds() -> None:
    """Command-line options become the spec's fields; the gates get its thresholds."""
    spec = build_spec(
        {
            "model": "iris",
            "version": "v2",
            "steps": "5,25,50,100",
            "step_duration": "10m",
            "max_step_duration": "1h",
            "margin": 0.02,
            "min_outcomes": 300,
            "reason": "better recall",
        }
    )
    assert spec.steps == (5, 25, 50, 100) and spec.canary_steps == (5, 25, 50)
    assert (spec.step_duration_s, spec.max_step_duration_s) == (600, 3600)
    limits = thresholds_of(spec)
    assert (limits.margin, limits.min_outcomes, limits.min_latency_samples) == (0.02, 300, 300)
    assert limits.latency_alpha == pytest.approx(spec.alpha / 3)  # split over the three canary steps
    assert limits.min_agreement is None


def test_min_agreement_gates_the_shadow_phase_only() -> None:
    """--min-agreement needs --shadow-first and is a share in [0, 1]; the shadow gates get it."""
    base = {"model": "iris", "version": "v2", "reason": "r"}
    with pytest.raises(RolloutError, match="min_agreement gates the shadow phase"):
        build_spec({**base, "min_agreement": 0.9})
    with pytest.raises(RolloutError, match="min_agreement"):
        build_spec({**base, "shadow_first": "5m", "min_agreement": 1.5})
    assert thresholds_of(build_spec({**base, "shadow_first": "5m", "min_agreement": 0.9})).min_agreement == 0.9


@pytest.mark.parametrize(
    ("steps", "rule"),
    [("50,25,100", "must increase"), ("100", "a step under 100"), ("0,50", "percentage in"), ("5,25.555", "decimals")],
)
def test_step_weights_increase_within_percent(steps: str, rule: str) -> None:
    """Weights must increase, lie in (0, 100] with two decimals, and include a step under 100."""
    with pytest.raises(RolloutError, match=rule):
        build_spec({"model": "iris", "version": "v2", "reason": "r", "steps": steps})


def test_a_max_step_duration_shorter_than_the_step_is_refused() -> None:
    """A step could never pass if its maximum came before its minimum."""
    with pytest.raises(RolloutError, match="shorter than step_duration_s"):
        build_spec({"model": "iris", "version": "v2", "reason": "r", "step_duration": "1h", "max_step_duration": "10m"})


def test_a_yaml_spec_takes_option_names_with_dashes(tmp_path: Path) -> None:
    """A YAML file of options reads like the command line."""
    path = tmp_path / "rollout.yaml"
    path.write_text("steps: [10, 50, 100]\nstep-duration: 5m\nlabel-delay: 30m\nreason: from a file\n")
    spec = build_spec({**read_spec_file(path), "model": "iris", "version": "v2"})
    assert (spec.steps, spec.step_duration_s, spec.label_delay_s, spec.reason) == (
        (10, 50, 100),
        300,
        1800,
        "from a file",
    )


def _started():
    spec = build_spec({"model": "iris", "version": "v2", "reason": "r", "steps": "10,50,100"})
    return begin(spec, Plan.initial("iris", "v1"), None, now=NOW)


def test_a_rollout_begins_on_the_plan_in_force_and_only_one_at_a_time() -> None:
    """A new rollout records the stable version and revision it starts on; a second while active is refused."""
    state = _started()
    assert (state.phase, state.step, state.stable, state.base_revision, state.seq) == ("step", 0, "v1", 1, 1)
    assert [d.action for d in state.decisions] == ["start"]
    with pytest.raises(RolloutConflictError, match="already has a rollout"):
        begin(state.spec, Plan.initial("iris", "v1"), state, now=NOW)
    done = ended(state, phase="aborted", action="abort", now=NOW, actor="sre", reason="no")
    assert begin(state.spec, Plan.initial("iris", "v1"), done, now=NOW).seq == done.seq + 1


def test_pause_and_resume_restart_the_steps_clock() -> None:
    """A paused rollout resumes in the phase it paused in, with its step's clock restarted."""
    state = moved(_started(), action="begin", phase="step", step=0, revision=2, now=NOW, actor="rollout", reason="s1")
    held = paused(state, now=NOW + 10, actor="sre", reason="look")
    assert held.phase == "paused" and held.weight == 10
    with pytest.raises(RolloutError, match="paused already"):
        paused(held, now=NOW + 11, actor="sre", reason="again")
    back = resumed(held, now=NOW + 100, actor="sre", reason="fine")
    assert (back.phase, back.step, back.step_started_at) == ("step", 0, NOW + 100)
    assert [d.action for d in back.decisions] == ["start", "begin", "pause", "resume"]


def test_an_ended_rollout_takes_no_more_commands() -> None:
    """Pausing or aborting a rollout that has ended is refused, naming its phase."""
    done = ended(_started(), phase="rolled_back", action="rollback", now=NOW, actor="rollout", reason="worse")
    with pytest.raises(RolloutError, match="rolled_back"):
        paused(done, now=NOW, actor="sre", reason="late")
    with pytest.raises(RolloutError, match="rolled_back"):
        ended(done, phase="aborted", action="abort", now=NOW, actor="sre", reason="late")


def test_status_shows_each_gate_with_its_counts_interval_and_verdict() -> None:
    """The status table names the phase, step and weight, and each gate's n per arm, interval and verdict."""
    state = moved(_started(), action="begin", phase="step", step=0, revision=2, now=NOW, actor="rollout", reason="s1")
    gate = {
        "gate": "quality", "verdict": "inconclusive", "reason": "straddles", "n_canary": 210, "n_stable": 1890,
        "estimate": -0.004, "low": -0.03, "high": 0.02, "threshold": -0.01, "needed": 800,
    }  # fmt: skip
    shown = snapshot(state, (gate,), now=NOW + 5).model_dump(mode="json")
    console = Console(width=200, record=True)
    console.print(describe(shown))
    text = console.export_text()
    assert "step 1/2 at 10%" in text and "over v1" in text
    assert "quality" in text and "inconclusive" in text and "[-0.0300, +0.0200]" in text and "800" in text
    assert "210" in text and "1890" in text
