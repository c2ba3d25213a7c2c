"""Bulk encoding throughput: the old catalog path vs `TitleEncoder.encode`, in the same process.

    python -m benchmarks.encoder_throughput [--model base] [--titles 20000] [--repeats 3]

The titles are the first `--titles` real LinkedIn 2023 postings (`recsys.data.linkedin`), with
their repeats (20,000 postings hold about 14,300 distinct titles). Throughput is postings per
second, the median of `--repeats` runs; the old and new paths take turns so that load from
other processes falls on both alike, and the ratio is the figure to compare across machines.

* old: what the catalog build did before: each distinct title once (`pd.factorize`), batches of
  256 titles sorted by characters, each padded to its longest title, cut at 256 tokens, on one
  session with onnxruntime's default intra-op threads.
* new, threads 0: `TitleEncoder.encode` as the CLI and demo load it (`encoder_onnx_threads` 0).
* new, threads 1: as the service loads it (`recsys serve` sets RECSYS_ENCODER_ONNX_THREADS=1).

It also times one uncached title (the serving path) on the old and the new code, and checks
that every title's new vector is the old one (smallest cosine).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.linkedin import load_linkedin_catalog
from recsys.recall.encoder import TitleEncoder, available_cores
from recsys.settings import get_settings

OLD_BATCH, OLD_MAX_TOKENS = 256, 256


class OldPath:
    """The encoder's code before bulk batching, over the same session (see module docstring)."""

    def __init__(self, encoder: TitleEncoder):
        from tokenizers import Tokenizer

        self.session = encoder.embedder.session  # type: ignore[attr-defined]
        self.tokenizer = Tokenizer.from_file(str(encoder.model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=OLD_MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def __call__(self, titles: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(titles)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)

    def encode_catalog(self, titles: list[str]) -> np.ndarray:
        codes, unique = pd.factorize(pd.Series(titles))
        distinct = list(unique)
        order = np.argsort([len(t) for t in distinct], kind="stable")
        out = np.empty((len(distinct), 384), dtype=np.float32)
        for start in range(0, len(distinct), OLD_BATCH):
            rows = order[start : start + OLD_BATCH]
            out[rows] = self([distinct[i] for i in rows])
        return out[codes]


def one_title_ms(encode: Callable[[str], Any], repeats: int, tag: str) -> float:
    """Median ms of encoding a title never seen before."""
    encode(f"react developer warmup {tag}")
    times = np.empty(repeats)
    for i in range(repeats):
        title = f"senior payroll clerk {tag} {i}"
        start = time.perf_counter()
        encode(title)
        times[i] = time.perf_counter() - start
    return float(np.median(times) * 1e3)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--titles", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-repeats", type=int, default=200)
    args = parser.parse_args(argv)

    jobs = load_linkedin_catalog(get_settings().data_dir)
    titles = jobs["title"].astype(str).head(args.titles).tolist()
    distinct = len(set(titles))
    cli = TitleEncoder.load(args.model, onnx_threads=0, cache_size=0)
    service = TitleEncoder.load(args.model, onnx_threads=1, cache_size=0)
    old = OldPath(cli)
    paths: dict[str, Callable[[list[str]], np.ndarray]] = {
        "old": old.encode_catalog,
        "new, threads 0": cli.encode,
        "new, threads 1": service.encode,
    }
    for encode in paths.values():  # warm up: sessions made, arenas grown
        encode(titles[:2_000])
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in paths}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, encode in paths.items():
            start, cpu = time.perf_counter(), time.process_time()
            vectors[name] = encode(titles)
            seconds[name].append(time.perf_counter() - start)
            cpu_seconds[name].append(time.process_time() - cpu)
    rows = {}
    for name, times in seconds.items():
        median = float(np.median(times))
        rows[name] = {
            "seconds": round(median, 2),
            "titles_per_s": round(len(titles) / median, 1),
            "distinct_per_s": round(distinct / median, 1),
            # CPU time this process got: on a shared machine, titles per CPU-second x cores
            # estimates an idle machine (pessimistic where threads spin-wait)
            "titles_per_cpu_s": round(len(titles) / float(np.median(cpu_seconds[name])), 1),
            "min_cosine_vs_old": float((vectors[name] * vectors["old"]).sum(axis=1).min()),
        }
    latency = {
        "old": one_title_ms(lambda t: old([t]), args.latency_repeats, "old"),
        "new, threads 0": one_title_ms(lambda t: cli.encode([t]), args.latency_repeats, "new"),
        "new, threads 1": one_title_ms(lambda t: service.encode([t]), args.latency_repeats, "s"),
    }
    print(
        f"{len(titles):,} LinkedIn titles ({distinct:,} distinct), {args.model}, "
        f"{available_cores()} cores, median of {args.repeats} runs, same process "
        f"(load average {os.getloadavg()[0]:.1f} at the end)"
    )
    for name, row in rows.items():
        print(
            f"  {name:<15} {row['titles_per_s']:8.0f} titles/s  ({row['distinct_per_s']:6.0f} "
            f"distinct/s, {row['seconds']:6.1f} s; {row['titles_per_cpu_s']:5.0f} per CPU-s)  "
            f"min cosine vs old {row['min_cosine_vs_old']:.6f}"
        )
    speedup = rows["new, threads 0"]["titles_per_s"] / rows["old"]["titles_per_s"]
    print(f"  new is {speedup:.1f}x the old throughput")
    print("one uncached title, p50: " + ", ".join(f"{k} {v:.2f} ms" for k, v in latency.items()))
    return {
        "benchmark": "encoder_throughput",
        "model": args.model,
        "titles": len(titles),
        "distinct": distinct,
        **rows,
        "speedup": speedup,
        "one_title_p50_ms": latency,
    }


if __name__ == "__main__":
    main()
