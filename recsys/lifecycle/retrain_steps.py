"""The daily retrain's steps in order: the one list the runner, the CLI and the Airflow DAG read.

Standard library only, on purpose: the DAG file imports this module when Airflow parses it,
and parsing must not pull in torch, LightGBM or MLflow. Each step is a function of
`recsys.lifecycle.retrain` with the step's name, taking the date's `RetrainJob`; it reads and
writes that date's folder, so re-running a step for a date is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class RetrainStep:
    """One step: its function's name (the DAG's task id) and what it does."""

    name: str
    what: str
    #: runs once per GBDT kind, with the kind as its argument (DAG tasks `<name>_<kind>`, in
    #: parallel; the runner runs them one after the other)
    per_kind: bool = False

    def runs(self, kinds: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
        """(task id, extra arguments) of each run of this step."""
        if self.per_kind:
            return [(f"{self.name}_{kind}", (kind,)) for kind in kinds]
        return [(self.name, ())]


RETRAIN_STEPS: Final[tuple[RetrainStep, ...]] = (
    RetrainStep("extract", "drain the event stream into the Parquet log; count the day's events"),
    RetrainStep("training_set", "served feature rows up to the day, labelled with later applies"),
    RetrainStep("train", "one GBDT kind on the training set (the day held out)", per_kind=True),
    RetrainStep(
        "evaluate",
        "candidates and the current champion on the day (the candidates' validation day) "
        "against the oracle; the HTML/JSON report",
    ),
    RetrainStep(
        "register", "every candidate's run logged to MLflow; the best registered as challenger"
    ),
    RetrainStep(
        "promote",
        "the gate (`recsys.lifecycle.promotion`): the challenger becomes champion, or the "
        "champion stays; the reason is logged",
    ),
    RetrainStep(
        "candidate_ranker",
        "the employer side's fit model: trained on the days before, evaluated with the champion "
        "on the day against the oracle, registered as `candidate-ranker`, gated to champion",
    ),
    RetrainStep(
        "rebuild_index", "only when the serving encoder or the catalog changed since the last build"
    ),
    RetrainStep("notify", "one summary line per retrain, and `summary.json`"),
)
#: the step names, in order
STEPS: Final[tuple[str, ...]] = tuple(step.name for step in RETRAIN_STEPS)


def describe_steps() -> str:
    """The steps in order, one line each ("1. extract: ..."), for help texts."""
    return "\n".join(f"{i}. {s.name}: {s.what}" for i, s in enumerate(RETRAIN_STEPS, 1))
