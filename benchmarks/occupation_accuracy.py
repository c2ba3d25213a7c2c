"""How often the occupation coder infers a simulated seeker's or posting's true occupation.

    python -m benchmarks.occupation_accuracy [--seekers 3000] [--jobs 500] [--seed 7]
        [--encoder base] [--posting-coders 32/0.02,64/0.02] [--repeats 5]

The market simulator knows each seeker's home occupation; the service only sees the desired title
and the skills. This prints, for the title alone and for the title with the seeker's skills (the
coder every side uses: `OccupationIndex.classify`): exact accuracy, the share within O*NET's
related occupations, the mean taxonomy distance, and how often the truth is among the title's 3
nearest occupations.

Postings are coded from their title and skills; the simulator knows each job's true occupation.
For each `--posting-coders` setting (candidate titles / skill weight; by default 32 titles, and
`CANDIDATES` with `SKILL_WEIGHT` and twice it) this prints the same accuracy figures and the
median over `--repeats` runs of the coding time (embedding excluded: it does not depend on the
setting) per 10,000 postings, which is what a catalog rebuild pays.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from recsys.data.taxonomy import load_taxonomy
from recsys.market.config import MarketConfig
from recsys.market.market import generate_market
from recsys.recall.encoder import TitleEncoder
from recsys.recall.occupations import CANDIDATES, SKILL_WEIGHT, OccupationIndex
from recsys.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seekers", type=int, default=3_000)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--encoder", default="base")
    parser.add_argument(
        "--posting-coders",
        type=_coders,
        default=[(32, SKILL_WEIGHT), (CANDIDATES, SKILL_WEIGHT), (CANDIDATES, 2 * SKILL_WEIGHT)],
        help="comma-separated CANDIDATES/SKILL_WEIGHT pairs to code postings with",
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    settings = get_settings()
    taxonomy = load_taxonomy(settings.data_dir)
    market = generate_market(
        MarketConfig(n_jobs=args.jobs, n_seekers=args.seekers, days=1, seed=args.seed),
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
    job_truth = market.job_occupation
    job_vectors = encoder.encode(market.jobs["title"].astype(str).tolist())
    job_skills = taxonomy.skill_matrix(market.jobs["skills"])
    print(f"\n{len(job_truth)} postings")
    print(f"{'posting coder':<18}{'exact':>8}{'related':>9}{'distance':>10}{'s / 10k':>10}")
    for candidates, weight in args.posting_coders:
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            guess, _ = coder.classify(job_vectors, job_skills, candidates, weight)
            seconds.append(time.perf_counter() - start)
        exact = guess == job_truth
        related = exact | taxonomy.related_mask(guess, job_truth)
        distance = taxonomy.distance_idx(guess, job_truth).mean()
        per_10k = float(np.median(seconds)) * 10_000 / max(len(job_truth), 1)
        print(
            f"{f'{candidates} / {weight}':<18}{exact.mean():>8.3f}{related.mean():>9.3f}"
            f"{distance:>10.2f}{per_10k:>10.2f}"
        )


def _coders(text: str) -> list[tuple[int, float]]:
    """'8/0.3,32/0.5' -> [(8, 0.3), (32, 0.5)]."""
    pairs = [part.split("/") for part in text.split(",") if part.strip()]
    return [(int(candidates), float(weight)) for candidates, weight in pairs]


if __name__ == "__main__":
    main()
