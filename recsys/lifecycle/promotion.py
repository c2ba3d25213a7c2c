"""The promotion gate: a challenger replaces the champion only when it is sane and better.

Sane: every score it gives on the evaluation rows is finite, and it was trained on exactly the
feature list the serving code computes (a model from an older feature list would read columns
in the wrong places). Better: nDCG@10 on the held-out day at least `margin` above the
champion's, measured on the same requests in the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsys.ranking.features import FEATURE_NAMES


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def sanity_problems(feature_names: Sequence[str], scores: np.ndarray) -> list[str]:
    """What disqualifies a model regardless of its metrics (empty when nothing does)."""
    problems = []
    if list(feature_names) != list(FEATURE_NAMES):
        missing = sorted(set(FEATURE_NAMES) - set(feature_names))
        extra = sorted(set(feature_names) - set(FEATURE_NAMES))
        problems.append(
            "feature list differs from serving"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {extra}" if extra else "")
            + ("; order differs" if not missing and not extra else "")
        )
    bad = int(np.count_nonzero(~np.isfinite(np.asarray(scores, dtype=np.float64))))
    if bad:
        problems.append(f"{bad} of {len(scores)} scores are NaN or infinite")
    return problems


def decide(
    candidate: float, champion: float | None, margin: float, problems: Sequence[str]
) -> Decision:
    """Promote, or keep the champion, with the reason in words (it is logged and printed)."""
    if problems:
        return Decision(False, "kept the champion: the challenger fails " + "; ".join(problems))
    if not np.isfinite(candidate):
        return Decision(False, "kept the champion: the challenger's nDCG@10 is not a number")
    if champion is None:
        return Decision(True, f"promoted: no champion yet (challenger nDCG@10 {candidate:.4f})")
    gain = candidate - champion
    verdict = (
        f"challenger nDCG@10 {candidate:.4f} vs champion {champion:.4f} "
        f"({gain:+.4f}, margin {margin:.4f})"
    )
    if gain >= margin:
        return Decision(True, f"promoted: {verdict}")
    return Decision(False, f"kept the champion: {verdict}")
