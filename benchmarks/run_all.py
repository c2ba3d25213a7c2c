"""`make bench`: every benchmark in one process, figures printed and saved as JSON.

python -m benchmarks.run_all [--out artifacts/bench.json]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from benchmarks import encoder_latency, fine_predict, pipeline_latency, recall_latency


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench.json"))
    args = parser.parse_args(argv)
    results = {"machine": {"python": platform.python_version(), "cpu": platform.processor()}}
    for name, module in (
        ("encoder", encoder_latency),
        ("recall", recall_latency),
        ("fine", fine_predict),
        ("pipeline", pipeline_latency),
    ):
        print(f"\n== {name} ==")
        results[name] = module.main([])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
