"""Fine-tuning steps per second: the old step recipe vs the new one, same batches, one process.

    python -m benchmarks.encoder_training_speed [--batch-size 64] [--steps 4] [--repeats 3]

* old: what `make demo` ran before: the whole model trained (word-embedding table included),
  titles cut at 64 tokens, and three forward passes per step (anchors, positives, negatives).
* new: word embeddings frozen, titles cut at 32 tokens, one forward pass over the 3 x batch.

Both draw the same O*NET batches (same seed). Each repeat times `--steps` steps of each recipe,
taking turns so other processes' load falls on both alike; figures are medians over repeats
and the ratio is the number to compare across machines. The box is shared: absolute steps/s
move with its load, the ratio much less.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from recsys.data.taxonomy import load_taxonomy
from recsys.recall.encoder import base_model_dir
from recsys.recall.encoder_batches import TripletSampler
from recsys.recall.encoder_training import (
    fit,
    resolve_config,
    taxonomy_infonce,
    trainable_parameters,
)
from recsys.recall.title_split import split_titles
from recsys.settings import get_settings


def old_steps(model: Any, sampler: TripletSampler, batch_size: int, steps: int) -> float:
    """The previous loop body: one forward per role, all weights trained; returns seconds."""
    params = trainable_parameters(model, freeze_embeddings=False)
    optimizer = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.01)
    model.max_seq_length = 64
    model.train()
    started = time.perf_counter()
    for _ in range(steps):
        batch = sampler.sample(batch_size)
        embedded = [
            model(model.preprocess(texts))["sentence_embedding"]
            for texts in (batch.anchors, batch.positives, batch.negatives)
        ]
        loss = taxonomy_infonce(
            embedded[0],
            embedded[1],
            embedded[2],
            torch.as_tensor(batch.occupation),
            torch.as_tensor(batch.negative_occupation),
            20.0,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    taxonomy = load_taxonomy(get_settings().data_dir)
    split = split_titles(taxonomy, seed=42)
    model = SentenceTransformer(str(base_model_dir()), device="cpu")
    config = replace(
        resolve_config(budget_steps=args.steps, budget_minutes=None, device="cpu"),
        batch_size=args.batch_size,
        learning_rate=1e-5,
        freeze_embeddings=True,
    )
    print(f"torch threads {torch.get_num_threads()}, batch {args.batch_size}, steps {args.steps}")
    timings: dict[str, list[float]] = {"old": [], "new": []}
    for repeat in range(args.repeats + 1):  # the first round warms up and is dropped
        old = old_steps(
            model, TripletSampler(taxonomy, split.train, repeat), args.batch_size, args.steps
        )
        model.max_seq_length = config.max_seq_length
        new = fit(model, TripletSampler(taxonomy, split.train, repeat), config)["seconds"]
        if repeat:
            timings["old"].append(args.steps / old)
            timings["new"].append(args.steps / max(new, 1e-9))
    old_rate, new_rate = (float(np.median(timings[k])) for k in ("old", "new"))
    print(f"old recipe: {old_rate:.3f} steps/s  (repeats {np.round(timings['old'], 3).tolist()})")
    print(f"new recipe: {new_rate:.3f} steps/s  (repeats {np.round(timings['new'], 3).tolist()})")
    print(f"speed-up: {new_rate / old_rate:.2f}x")


if __name__ == "__main__":
    main()
