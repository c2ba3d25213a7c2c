"""An int8-quantised ONNX encoder against the float one: speed, and the retrieval it loses.

    python -m benchmarks.encoder_int8 [--model base|FOLDER] [--benchmark esco ...]
        [--titles 400] [--repeats 5] [--json out.json]

Both graphs come from the same encoder folder: the float export, and
`onnx_export.quantize_int8` of it (dynamic int8 weights of every MatMul/Gemm, one scale per
output channel unless `--per-tensor`), which the service runs by default (`encoder_onnx_int8`).
Speed: one title per call on a single-threaded session, as the service encodes a cold request
(median ms over `--titles` distinct titles, the median of `--repeats` rounds taken in turns so
the box's load falls on both alike), and a bulk encode of every distinct O*NET title
(titles/s). Quality: MAP, MRR and nDCG@10 on the built-in retrieval benchmarks for both, paired
over queries; the issue keeps int8 only if it loses under 0.005 MAP.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recsys.data.taxonomy import load_taxonomy
from recsys.recall.encoder import INT8_ONNX_NAME, OnnxEmbedder, TitleEncoder
from recsys.recall.onnx_export import max_cosine_gap, quantize_int8
from recsys.recall.retrieval_evaluation import (
    DenseScorer,
    TitleScorer,
    evaluate_retrieval,
    paired_comparison,
)
from recsys.recall.title_benchmarks import BUILTIN, builtin_benchmark
from recsys.settings import get_settings

METRICS = ("map", "mrr", "ndcg@10")


def single_title_ms(encoder: TitleEncoder, titles: list[str]) -> float:
    """Median ms of one-title calls, the model alone (no cache)."""
    embed = encoder.embedder
    times = []
    for title in titles:
        t0 = time.perf_counter()
        embed([title])
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def bulk_titles_per_s(encoder: TitleEncoder, titles: list[str]) -> float:
    t0 = time.perf_counter()
    encoder.embedder.embed_many(titles)  # type: ignore[attr-defined]
    return len(titles) / (time.perf_counter() - t0)


class OneQueryPerCall(DenseScorer):
    """Queries encoded one per call, as the service encodes a cold request, against a corpus
    encoded in bulk: int8 activations are quantised per call, so a title's vector depends a
    little on the batch it was encoded in, and this is the pairing the service meets."""

    def score(self, queries: Sequence[str]) -> np.ndarray:
        vectors = np.stack([self.encoder.embedder([q])[0] for q in queries])
        return vectors @ self.docs_.T


def int8_twin(encoder: TitleEncoder, folder: Path, per_channel: bool) -> TitleEncoder:
    """The same folder served by the int8 graph (threads as the service's session)."""
    fp32 = encoder.embedder
    assert isinstance(fp32, OnnxEmbedder), "the float encoder must run on onnxruntime"
    path = quantize_int8(fp32.onnx_path, folder / INT8_ONNX_NAME, per_channel)
    model_dir = encoder.model_dir
    max_len = int(encoder.metadata["max_seq_length"])
    embedder = OnnxEmbedder(path, model_dir / "tokenizer.json", max_len, 1, int8=True)
    return TitleEncoder(model_dir, encoder.metadata, embedder, cache_size=0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--benchmark", action="append", choices=BUILTIN)
    parser.add_argument("--titles", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--per-tensor", action="store_true", help="one scale per weight matrix")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    settings = get_settings()
    fp32 = TitleEncoder.load(args.model, backend="onnx", cache_size=0, onnx_threads=1, int8=False)
    with tempfile.TemporaryDirectory() as tmp:
        int8 = int8_twin(fp32, Path(tmp), per_channel=not args.per_tensor)
        encoders = {"fp32": fp32, "int8": int8}
        taxonomy = load_taxonomy(settings.data_dir)
        all_titles = sorted(
            {t for o in taxonomy.occupations for t in (o.title, *o.alternate_titles)}
        )
        rng = np.random.default_rng(0)
        sample = [all_titles[i] for i in rng.choice(len(all_titles), args.titles, replace=False)]
        gap = max_cosine_gap(fp32.embedder(sample), int8.embedder(sample))
        rounds: dict[str, list[float]] = {name: [] for name in encoders}
        for _ in range(args.repeats):
            for name, enc in encoders.items():
                rounds[name].append(single_title_ms(enc, sample))
        bulk = {name: bulk_titles_per_s(enc, all_titles) for name, enc in encoders.items()}
        report: dict[str, Any] = {
            "model": args.model,
            "per_channel": not args.per_tensor,
            "max_cosine_gap": gap,
            "single_title_ms": {k: float(np.median(v)) for k, v in rounds.items()},
            "single_title_rounds": rounds,
            "bulk_titles_per_s": bulk,
            "bulk_titles": len(all_titles),
            "benchmarks": {},
        }
        print(f"largest cosine gap fp32 vs int8 over {len(sample)} titles: {gap:.4f}")
        for name in ("fp32", "int8"):
            print(
                f"{name}: one title {report['single_title_ms'][name]:.2f} ms (median), "
                f"bulk {bulk[name]:,.0f} titles/s over {len(all_titles):,}"
            )
        for bench in args.benchmark or list(BUILTIN):
            data = builtin_benchmark(bench, [args.model])
            scorers: dict[str, TitleScorer] = {n: DenseScorer(e) for n, e in encoders.items()}
            scorers["int8 (one query per call)"] = OneQueryPerCall(int8)
            results = evaluate_retrieval(data, list(scorers), scorers=scorers)
            row: dict[str, Any] = {"queries": int(len(results[0].query_ids))}
            for metric in METRICS:
                means = [float(r.per_query[metric].mean()) for r in results]
                row[metric] = {"fp32": means[0]}
                for other, mean in zip(results[1:], means[1:], strict=True):
                    cmp = paired_comparison(other, results[0], metric=metric)
                    row[metric][other.model] = {"mean": mean, **cmp}
                    print(
                        f"{bench:9s} {metric:8s} fp32 {means[0]:.4f}  {other.model} {mean:.4f}"
                        f"  diff {cmp['mean_difference']:+.4f}  p {cmp['p_randomization']:.3g}"
                    )
            report["benchmarks"][bench] = row
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return report


if __name__ == "__main__":
    main()
