"""Fine-tuning steps per second: the old step recipe vs the new one and its variants.

    python -m benchmarks.encoder_training_speed [--batch-size 64] [--steps 4] [--repeats 3] \
        [--batches onet|demo] [--variant new --variant bf16 --variant frozen=3 ...]

* old: what `make demo` ran before: the whole model trained (word-embedding table included),
  titles cut at 64 tokens, and three forward passes per step (anchors, positives, negatives).
* new: word embeddings frozen, titles cut at 32 tokens, one forward pass over the 3 x batch.
  What the settings train with now is `chunk=512` (`encoder_train_chunk_tokens`).
* a variant is `new` with comma-separated changes: `bf16` (bf16 autocast on CPU), `frozen=K`
  (embeddings and the K lowest blocks frozen), `chunk=T` (forwards over length-sorted chunks
  of at most T padded tokens), `batch=N`, `onet` or `demo` (its batches, whatever `--batches`).

`--batches onet` draws O*NET triplets only; `--batches demo` draws what `make demo` trains on
(`training_batches`: O*NET and ESCO steps, noisy anchors), whose titles run longer. Every recipe
draws the same batches (same seed, a copy of one sampler per repeat). Each repeat times
`--steps` steps of each recipe, taking turns so other processes' load falls on all alike;
figures are medians over repeats and the ratios are the numbers to compare across machines.
The box is shared: absolute steps/s move with its load, the ratios much less.
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from recsys.data.taxonomy import Taxonomy, load_taxonomy
from recsys.recall.encoder import base_model_dir
from recsys.recall.encoder_batches import TrainingBatches, TripletSampler
from recsys.recall.encoder_training import (
    TrainingConfig,
    fit,
    resolve_config,
    taxonomy_infonce,
    trainable_parameters,
    training_batches,
)
from recsys.recall.title_split import TitleSplit, split_titles
from recsys.settings import get_settings


def old_steps(model: Any, sampler: Any, batch_size: int, steps: int) -> float:
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


def batches_of(spec: str, default: str) -> str:
    """The batches a recipe draws: `onet` or `demo` when its spec names one, else `default`."""
    named = [part for part in spec.split(",") if part in ("onet", "demo")]
    return named[-1] if named else default


def variant_config(base: TrainingConfig, spec: str) -> TrainingConfig:
    """`base` with the changes in `spec` (`new`, `bf16`, `frozen=K`, `chunk=T`, `batch=N`; `,`)."""
    config = base
    for part in spec.split(","):
        key, _, value = part.partition("=")
        if key in ("new", "onet", "demo"):
            continue
        if key == "bf16":
            config = replace(config, cpu_bf16=True)
        elif key == "frozen":
            config = replace(config, frozen_layers=int(value))
        elif key == "chunk":
            config = replace(config, chunk_tokens=int(value))
        elif key == "batch":
            config = replace(config, batch_size=int(value))
        else:
            raise SystemExit(f"unknown variant part {part!r} in {spec!r}")
    return config


def prototype_sampler(
    kind: str, taxonomy: Taxonomy, split: TitleSplit, config: TrainingConfig, seed: int
) -> TripletSampler | TrainingBatches:
    """The batches of one repeat; each recipe gets a deep copy, so all draw the same ones."""
    if kind == "onet":
        return TripletSampler(taxonomy, split.train, seed)
    return training_batches(taxonomy, split, replace(config, seed=seed))[0]


def padding_share(model: Any, sampler: Any, batch_size: int, steps: int) -> float:
    """Share of the one-forward batch's token slots that are padding, over `steps` batches."""
    pad = total = 0
    for _ in range(steps):
        b = sampler.sample(batch_size)
        mask = model.preprocess(b.anchors + b.positives + b.negatives)["attention_mask"]
        pad += int((mask == 0).sum())
        total += mask.numel()
    return pad / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", choices=("onet", "demo"), default="onet")
    parser.add_argument("--variant", action="append")
    parser.add_argument("--no-old", action="store_true", help="skip the old recipe")
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    taxonomy = load_taxonomy(get_settings().data_dir)
    split = split_titles(taxonomy, seed=42)
    model = SentenceTransformer(str(base_model_dir()), device="cpu")
    base = replace(
        resolve_config(budget_steps=args.steps, budget_minutes=None, device="cpu"),
        batch_size=args.batch_size,
        learning_rate=1e-5,
        freeze_embeddings=True,
        frozen_layers=0,
        cpu_bf16=False,
        chunk_tokens=0,
    )
    variants = {spec: variant_config(base, spec) for spec in args.variant or ["new"]}
    print(
        f"torch threads {torch.get_num_threads()}, batch {args.batch_size}, "
        f"steps {args.steps}, batches {args.batches}"
    )
    recipes = ([] if args.no_old else ["old"]) + list(variants)
    timings: dict[str, list[float]] = {name: [] for name in recipes}
    for repeat in range(args.repeats + 1):  # the first round warms up and is dropped
        kinds = {batches_of(name, args.batches) for name in recipes}
        protos = {k: prototype_sampler(k, taxonomy, split, base, repeat) for k in sorted(kinds)}
        if repeat == 0:
            model.max_seq_length = base.max_seq_length
            for kind, proto in protos.items():
                share = padding_share(model, copy.deepcopy(proto), args.batch_size, 20)
                print(f"{kind}: padding share of a one-forward step's token slots {share:.2f}")
        for name in recipes:
            sampler = copy.deepcopy(protos[batches_of(name, args.batches)])
            if name == "old":
                seconds = old_steps(model, sampler, args.batch_size, args.steps)
            else:
                model.max_seq_length = variants[name].max_seq_length
                seconds = fit(model, sampler, variants[name])["seconds"]
            if repeat:
                timings[name].append(args.steps / max(seconds, 1e-9))
    rates = {name: float(np.median(timings[name])) for name in recipes}
    reference = rates.get("old") or rates[recipes[0]]
    for name in recipes:
        print(
            f"{name:<20} {rates[name]:.3f} steps/s  x{rates[name] / reference:.2f}  "
            f"(repeats {np.round(timings[name], 3).tolist()})"
        )


if __name__ == "__main__":
    main()
