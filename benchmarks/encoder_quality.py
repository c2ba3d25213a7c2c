"""Title-retrieval quality of several encoders on every built-in benchmark, with paired tests.

    python -m benchmarks.encoder_quality --model base --model tfidf --model OLD --model NEW \
        [--benchmark onet --benchmark esco --benchmark soc --benchmark linkedin] [--json out.json]

The last `--model` is the candidate: it is compared with each other model on MAP, MRR and
nDCG@10 by a paired randomisation test and a paired t-test over queries
(`recsys.evaluation.significance`). Benchmarks are held out as the trained models recorded
(`title_benchmarks.builtin_benchmark`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from recsys.recall.retrieval_evaluation import evaluate_retrieval, paired_comparison
from recsys.recall.title_benchmarks import BUILTIN, builtin_benchmark

METRICS = ("map", "mrr", "ndcg@10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--benchmark", action="append", choices=BUILTIN)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = {}
    for name in args.benchmark or list(BUILTIN):
        data = builtin_benchmark(name, args.model)
        results = evaluate_retrieval(data, args.model)
        print(f"\n{name}: {len(data.queries)} queries, {len(data.corpus)} titles")
        print(f"{'model':<40}" + "".join(f"{m:>10}" for m in METRICS))
        for r in results:
            s = r.summary()
            print(f"{r.model[-40:]:<40}" + "".join(f"{s[m]:>10.4f}" for m in METRICS))
        tests = [
            paired_comparison(results[-1], other, metric=metric)
            for other in results[:-1]
            for metric in METRICS
        ]
        for t in tests:
            print(
                f"  vs {t['baseline'][-30:]:<30} {t['metric']:<8} {t['mean_difference']:+.4f} "
                f"p_rand={t['p_randomization']:.2g} p_t={t['p_ttest']:.2g}"
            )
        report[name] = {"results": [r.summary() for r in results], "paired": tests}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
