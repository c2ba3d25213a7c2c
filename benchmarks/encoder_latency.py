"""Encoding one uncached title: ONNX Runtime vs torch, in the same process.

    python -m benchmarks.encoder_latency [--model base] [--repeats 200]

Each timed call encodes a title never seen before (the cache is bypassed by making every title
unique), as the first request of a new seeker does.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from recsys.recall.encoder import TitleEncoder

TITLES = ("react developer", "registered nurse icu", "senior payroll clerk", "truck driver cdl a")


def latencies_ms(encoder: TitleEncoder, repeats: int, tag: str) -> np.ndarray:
    encoder.encode([f"{TITLES[0]} warmup {tag}"])
    times = np.empty(repeats)
    for i in range(repeats):
        title = f"{TITLES[i % len(TITLES)]} {tag} {i}"
        start = time.perf_counter()
        encoder.encode([title])
        times[i] = time.perf_counter() - start
    return times * 1e3


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    rows = {}
    for backend in ("onnx", "torch"):
        encoder = TitleEncoder.load(args.model, backend=backend)  # type: ignore[arg-type]
        ms = latencies_ms(encoder, args.repeats, backend)
        rows[backend] = {"p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99))}
    ratio = rows["torch"]["p50_ms"] / rows["onnx"]["p50_ms"]
    print(f"one uncached title ({args.model}, {args.repeats} calls each, same process)")
    for backend, r in rows.items():
        print(f"  {backend:<6} p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms")
    print(f"  onnx is {ratio:.1f}x faster at the median")
    return {"benchmark": "encoder_latency", "model": args.model, **rows, "torch_over_onnx": ratio}


if __name__ == "__main__":
    main()
