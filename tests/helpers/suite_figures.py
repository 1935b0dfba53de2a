"""The figures the suites collect while they run (reliability, bad inputs, the models), printed at the end of the run
by conftest.py's `pytest_terminal_summary`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Filled by the reliability suite; printed at the end of the run.
RELIABILITY_FIGURES: list[dict[str, Any]] = []
BAD_INPUT_FIGURES: list[dict[str, Any]] = []


@dataclass
class ModelFigures:
    """Filled by a model-based test (test_lifecycle_model.py, test_stack_model.py): state machines run, rules executed,
    what they led to."""

    examples: int = 0
    seconds: float = 0.0
    steps: Counter[str] = field(default_factory=Counter)
    step_milliseconds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)


# Per machine, printed at the end of the run.
MODEL_FIGURES: dict[str, ModelFigures] = {}
LIFECYCLE_MODEL_FIGURES = MODEL_FIGURES.setdefault("lifecycle model", ModelFigures())


def collected() -> dict[str, Any]:
    """This process's figures as plain data: what a pytest-xdist worker hands to the controller, which prints them."""
    return {
        "reliability": RELIABILITY_FIGURES,
        "bad_inputs": BAD_INPUT_FIGURES,
        "models": {name: _plain(model) for name, model in MODEL_FIGURES.items() if model.examples},
    }


def _plain(model: ModelFigures) -> dict[str, Any]:
    # Not dataclasses.asdict: it rebuilds a Counter from its (key, count) pairs, counting the pairs.
    return {
        "examples": model.examples,
        "seconds": model.seconds,
        "steps": dict(model.steps),
        "step_milliseconds": dict(model.step_milliseconds),
        "outcomes": dict(model.outcomes),
    }


def add(figures: dict[str, Any]) -> None:
    """Add a worker's `collected()` figures to this process's."""
    RELIABILITY_FIGURES.extend(figures["reliability"])
    BAD_INPUT_FIGURES.extend(figures["bad_inputs"])
    for name, data in figures["models"].items():
        model = MODEL_FIGURES.setdefault(name, ModelFigures())
        model.examples += data["examples"]
        model.seconds += data["seconds"]
        for counter in ("steps", "step_milliseconds", "outcomes"):
            getattr(model, counter).update(data[counter])


def write_summary(terminalreporter: Any) -> None:
    """Every figure collected in this run, one section per suite."""
    if RELIABILITY_FIGURES:
        terminalreporter.section("reliability figures")
        terminalreporter.write_line(
            "| scenario | API calls | faults injected | snapshots left | orphaned | duplicated |"
        )
        terminalreporter.write_line("|---|---|---|---|---|---|")
        for f in RELIABILITY_FIGURES:
            terminalreporter.write_line(
                f"| {f['scenario']} | {f['calls']} | {f['faults']} | {f['snapshots']} | "
                f"{f['orphaned']} | {f['duplicated']} |"
            )
        terminalreporter.write_line(
            f"scenarios: {len(RELIABILITY_FIGURES)}; faults injected: "
            f"{sum(f['faults'] for f in RELIABILITY_FIGURES)}; orphaned: "
            f"{sum(f['orphaned'] for f in RELIABILITY_FIGURES)}; duplicated: "
            f"{sum(f['duplicated'] for f in RELIABILITY_FIGURES)}"
        )
    if BAD_INPUT_FIGURES:
        refused_at = {}
        for f in BAD_INPUT_FIGURES:
            refused_at[f["stage"]] = refused_at.get(f["stage"], 0) + 1
        stages = ", ".join(f"{n} at {stage}" for stage, n in sorted(refused_at.items()))
        terminalreporter.section("bad-input figures")
        terminalreporter.write_line(
            f"bad inputs tried: {len(BAD_INPUT_FIGURES)} ({stages}); changes made in the "
            f"emulator: {sum(f['changes'] for f in BAD_INPUT_FIGURES)}"
        )
    for machine, model in MODEL_FIGURES.items():
        if not model.examples:
            continue
        terminalreporter.section(f"{machine} figures")
        terminalreporter.write_line(
            f"state machines run (examples): {model.examples}; rules executed (steps): {model.steps.total()}; "
            f"{model.seconds:.0f} s"
        )
        terminalreporter.write_line(
            "by rule (steps, seconds): "
            + ", ".join(
                f"{rule} {n} ({model.step_milliseconds[rule] / 1000:.0f} s)" for rule, n in sorted(model.steps.items())
            )
        )
        terminalreporter.write_line("outcomes: " + ", ".join(f"{o} {n}" for o, n in sorted(model.outcomes.items())))
