"""How often the occupation coder infers a simulated seeker's true occupation from their profile.

    python -m benchmarks.occupation_accuracy [--seekers 3000] [--seed 7] [--encoder base]

The market simulator knows each seeker's home occupation; the service only sees the desired title
and the skills. This prints, for the title alone, for the title with the seeker's skills as postings
are coded, and for the seeker coder (`Recommender.seeker_view`: more candidate titles, more weight
on skills): exact accuracy, the share within O*NET's related occupations, the
mean taxonomy distance, and how often the truth is among the coder's 3 nearest occupations (the
headroom for passing several candidate occupations on instead of one).
"""

from __future__ import annotations

import argparse

import numpy as np

from recsys.data.taxonomy import load_taxonomy
from recsys.market.config import MarketConfig
from recsys.market.market import generate_market
from recsys.recall.encoder import TitleEncoder
from recsys.recall.occupations import (
    CANDIDATES,
    SEEKER_CANDIDATES,
    SEEKER_SKILL_WEIGHT,
    SKILL_WEIGHT,
    OccupationIndex,
)
from recsys.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seekers", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--encoder", default="base")
    args = parser.parse_args()
    settings = get_settings()
    taxonomy = load_taxonomy(settings.data_dir)
    market = generate_market(
        MarketConfig(n_jobs=500, n_seekers=args.seekers, days=1, seed=args.seed),
        taxonomy,
        settings.data_dir,
    )
    encoder = TitleEncoder.load(args.encoder)
    coder = OccupationIndex.load_or_build(encoder, taxonomy, settings.artifacts_dir)
    truth = market.seeker_occupation
    vectors = encoder.encode(market.seekers["desired_title"].astype(str).tolist())
    skills = taxonomy.skill_matrix(market.seekers["skills"])
    print(f"{len(truth)} seekers, market seed {args.seed}, encoder {args.encoder}")
    print(f"{'profile used':<18}{'exact':>8}{'related':>9}{'distance':>10}{'in top 3':>10}")
    top3 = np.array(
        [[o for o, _ in row] + [-1] * (3 - len(row)) for row in coder.nearest(vectors, 3)]
    )
    settings_of = {
        "title": (None, CANDIDATES, SKILL_WEIGHT),
        "title + skills": (skills, CANDIDATES, SKILL_WEIGHT),
        "seeker coder": (skills, SEEKER_CANDIDATES, SEEKER_SKILL_WEIGHT),
    }
    for label, (given, candidates, weight) in settings_of.items():
        guess, _ = coder.classify(vectors, given, candidates, weight)
        exact = guess == truth
        related = exact | taxonomy.related_mask(guess, truth)
        distance = taxonomy.distance_idx(guess, truth).mean()
        in_top = (top3 == truth[:, None]).any(axis=1) | exact
        print(
            f"{label:<18}{exact.mean():>8.3f}{related.mean():>9.3f}{distance:>10.2f}"
            f"{in_top.mean():>10.3f}"
        )


if __name__ == "__main__":
    main()
