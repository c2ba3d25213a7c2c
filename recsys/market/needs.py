"""How many applies each job of a simulated market wants: its openings times applies per opening.

A posting wants enough applicants to fill its openings, not as many as possible: the marketplace
balance (`recsys.ranking.balance`) lowers jobs with many applies relative to that need and lifts
those with too few. A real board reads the need from the employer (openings on the posting); the
simulator draws it once per job from the job id, so the same market always has the same needs
and no model of the market sees them except through this function.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

#: applies an employer wants for one opening over the market's span
APPLIES_PER_OPENING: Final[float] = 4.0
#: openings per posting: 1 + Poisson(EXTRA_OPENINGS_MEAN)
EXTRA_OPENINGS_MEAN: Final[float] = 0.5
_NEEDS_SEED: Final[int] = 4_421


def applies_wanted(jobs: pd.DataFrame, seed: int) -> np.ndarray:
    """Applies wanted per job (float32, row-aligned with `jobs`), the same for the same seed."""
    rng = np.random.default_rng([seed, _NEEDS_SEED])
    openings = 1 + rng.poisson(EXTRA_OPENINGS_MEAN, len(jobs))
    return (openings * APPLIES_PER_OPENING).astype(np.float32)
