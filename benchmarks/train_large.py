"""Training at scale: in-process against a 2-worker Dask LocalCluster, on a simulated 10M-row log.

Writes a synthetic served log (`recsys.offline.served_log`: the Parquet feature rows and the
clicks and applies the service would write) once, then runs the whole training path twice, each
in a fresh process so its peak memory is its own: in-process (`build_training_set`, one
LightGBM fit) and on Dask (`build_training_set_dask`, `DaskLGBMClassifier`). Wall time covers
reading, labelling, splitting and the fit; peak memory is each process's maximum resident set
(`getrusage`), for the client and for every Dask worker. The ratio is in-process over Dask on
the same machine in the same run; the box is shared with other work, so treat single runs as
rough.

    python -m benchmarks.train_large [--rows 10000000] [--trees 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from recsys.offline.served_log import ServedLogConfig, write_served_log

WORKERS = 2


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_in_process(folder: str, config: ServedLogConfig, trees: int) -> dict[str, Any]:
    from recsys.ranking.train import RankerTrainingConfig, split_training_set, train_one
    from recsys.ranking.training_data import build_training_set

    start = time.perf_counter()
    data = build_training_set(Path(folder, "events"), Path(folder, "features"), config.last_day)
    train, valid = split_training_set(data, config.last_day)
    built = time.perf_counter() - start
    metrics = train_one(
        "lightgbm", train, valid, Path(folder, "local"), RankerTrainingConfig(n_estimators=trees)
    )
    return {
        "mode": "in-process",
        "wall_s": time.perf_counter() - start,
        "build_s": built,
        "ndcg@10": metrics["ndcg@10"],
        "peak_mb": {"client": peak_rss_mb()},
    }


def run_on_dask(folder: str, config: ServedLogConfig, trees: int) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from recsys.ranking.dask_training import build_training_set_dask, split_by_day
    from recsys.ranking.train import RankerTrainingConfig, train_one_dask

    with (
        LocalCluster(
            n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        start = time.perf_counter()
        data = build_training_set_dask(
            Path(folder, "events"), Path(folder, "features"), config.last_day
        )
        train, valid = split_by_day(data, config.last_day)
        built = time.perf_counter() - start
        metrics = train_one_dask(
            "lightgbm",
            client,
            train,
            valid,
            Path(folder, "dask"),
            RankerTrainingConfig(n_estimators=trees),
        )
        wall = time.perf_counter() - start
        workers = client.run(peak_rss_mb)
    return {
        "mode": "dask",
        "wall_s": wall,
        "build_s": built,
        "ndcg@10": metrics["ndcg@10"],
        "peak_mb": {
            "client": peak_rss_mb(),
            **{f"worker {i}": mb for i, mb in enumerate(workers.values())},
        },
    }


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    config = ServedLogConfig(
        rows=args.rows, days=args.days, users=max(1_000, args.rows // 100), parts_per_day=4
    )
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="train_large_") as folder:
        start = time.perf_counter()
        applies = write_served_log(Path(folder, "events"), Path(folder, "features"), config)
        print(
            f"simulated {args.rows:,} served rows, {applies:,} applies, {config.days} days "
            f"in {time.perf_counter() - start:.1f}s",
            flush=True,
        )
        spawn = multiprocessing.get_context("spawn")
        for run in (run_in_process, run_on_dask):
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                results.append(pool.submit(run, folder, config, args.trees).result())
            print(f"{results[-1]['mode']}: {results[-1]['wall_s']:.1f}s", flush=True)
    report = {
        "rows": args.rows,
        "trees": args.trees,
        "workers": WORKERS,
        "results": results,
        "in_process_over_dask_wall": results[0]["wall_s"] / results[1]["wall_s"],
    }
    print(f"\n{'mode':<12}{'wall s':>9}{'build s':>9}{'nDCG@10':>9}  peak MB per process")
    for r in results:
        peaks = ", ".join(f"{k} {v:,.0f}" for k, v in r["peak_mb"].items())
        print(
            f"{r['mode']:<12}{r['wall_s']:>9.1f}{r['build_s']:>9.1f}{r['ndcg@10']:>9.4f}  {peaks}"
        )
    print(
        f"in-process / dask wall time: {report['in_process_over_dask_wall']:.2f}x "
        "(one run on a shared 2-core box)"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
