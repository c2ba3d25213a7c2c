"""Fine-stage scoring latency: the libraries' own predict vs the compiled trees (numba kernel).

Trains each ranker kind on synthetic rows (300 trees, 31 leaves by default), then times scoring
one request's candidates (500 rows x 22 features) both ways in the same process, so the two
paths see the same machine load. Prints a table and returns the figures.

    python -m benchmarks.fine_predict [--rows 500] [--repeats 500]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from recsys.ranking.apply_rate_ranker import make_ranker

N_FEATURES = 22


def synthetic(n_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logistic ground truth with ~3% positives and a few missing values."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    weights = rng.normal(scale=0.6, size=N_FEATURES)
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-(X @ weights - 4.0)))).astype(np.int64)
    X[rng.random(X.shape) < 0.02] = np.nan
    return X, y


def latencies_ms(score: Callable[[np.ndarray], Any], X: np.ndarray, repeats: int) -> np.ndarray:
    for _ in range(min(20, repeats)):
        score(X)
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        score(X)
        times[i] = time.perf_counter() - start
    return times * 1e3


def bench_kind(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    X, y = synthetic(args.train_rows, seed=0)
    model = make_ranker(
        kind,
        n_estimators=args.trees,
        num_leaves=args.leaves,
        max_depth=args.max_depth,
        n_jobs=args.threads,
        random_state=0,
    )
    start = time.perf_counter()
    model.fit(X, y, feature_names=[f"f{i}" for i in range(N_FEATURES)])
    train_s = time.perf_counter() - start
    request = synthetic(args.rows, seed=1)[0]
    gap = float(np.max(np.abs(model.predict(request) - model.predict_native(request))))
    native = latencies_ms(model.predict_native, request, args.repeats)
    reference = latencies_ms(model.forest_.margin_reference, request, args.repeats)
    compiled = latencies_ms(model.predict, request, args.repeats)
    return {
        "kind": kind,
        "trees": model.forest_.n_trees,
        "depth": model.forest_.depth,
        "train_s": round(train_s, 2),
        "max_abs_diff": gap,
        "native_median_ms": float(np.median(native)),
        "native_p99_ms": float(np.percentile(native, 99)),
        "numpy_median_ms": float(np.median(reference)),
        "numpy_p99_ms": float(np.percentile(reference, 99)),
        "compiled_median_ms": float(np.median(compiled)),
        "compiled_p99_ms": float(np.percentile(compiled, 99)),
        "speedup_median": float(np.median(native) / np.median(compiled)),
    }


def print_table(results: list[dict[str, Any]], rows: int) -> None:
    print(f"scoring {rows} rows x {N_FEATURES} features (ms; same process)")
    header = (
        f"{'kind':<9} {'trees':>5} {'depth':>5} {'native p50':>10} {'native p99':>10} "
        f"{'numpy p50':>9} {'kernel p50':>10} {'kernel p99':>10} {'speed-up':>8} {'max diff':>9}"
    )
    print(header)
    for r in results:
        print(
            f"{r['kind']:<9} {r['trees']:>5} {r['depth']:>5} {r['native_median_ms']:>10.2f} "
            f"{r['native_p99_ms']:>10.2f} {r['numpy_median_ms']:>9.2f} "
            f"{r['compiled_median_ms']:>10.2f} {r['compiled_p99_ms']:>10.2f} "
            f"{r['speedup_median']:>7.2f}x "
            f"{r['max_abs_diff']:>9.1e}"
        )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500, help="candidates scored per call")
    parser.add_argument("--repeats", type=int, default=500, help="timed calls per path")
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--leaves", type=int, default=31)
    parser.add_argument("--max-depth", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--kinds", nargs="+", default=["lightgbm", "xgboost"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark; returns {"rows": ..., "results": [per-kind figures]}."""
    args = parse(argv)
    results = [bench_kind(kind, args) for kind in args.kinds]
    print_table(results, args.rows)
    return {"rows": args.rows, "repeats": args.repeats, "results": results}


if __name__ == "__main__":
    main()
