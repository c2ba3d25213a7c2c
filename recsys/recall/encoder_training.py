"""Fine-tune the title encoder on the O*NET taxonomy.

Goal: titles of one occupation land together, and taxonomy neighbours stay nearer each other
than unrelated occupations. Each step samples `batch_size` distinct occupations and, for each,
two different training titles (anchor, positive) plus one title of a neighbouring occupation
(O*NET "related" or same SOC broad group) as a hard negative. The loss is InfoNCE with
in-batch negatives (MultipleNegativesRankingLoss), made symmetric, with one change that matters
for a taxonomy: a candidate from the anchor's own occupation is masked instead of being treated
as a negative. Plain MNRL would push apart two titles of one occupation whenever a hard
negative happens to come from another row's occupation.

Validation holds out title strings (see `recsys.recall.title_split`); the saved folder carries
its own evaluation on those titles (the `onet` benchmark), so a model is never promoted on
numbers nobody can reproduce.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from recsys.data.taxonomy import Taxonomy
from recsys.recall.encoder import (
    BASE,
    BASE_MODEL_NAME,
    METADATA_FILE,
    ONNX_FILE,
    EncoderError,
    OnnxEmbedder,
    base_model_dir,
    fingerprint,
    write_metadata,
)
from recsys.recall.title_split import TitleSplit, split_titles

HELDOUT_FILE = "heldout_titles.tsv"
BENCHMARK_DIR = "benchmark"
StepCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides the trained weights besides the data; stored in the metadata."""

    budget_steps: int
    budget_minutes: float | None
    batch_size: int
    learning_rate: float
    seed: int
    max_seq_length: int
    heldout_fraction: float
    device: str
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    scale: float = 20.0


@dataclass(frozen=True)
class TitleBatch:
    """Titles of one step, row i of each list from occupation `occupation[i]` (negatives aside)."""

    anchors: list[str]
    positives: list[str]
    negatives: list[str]
    occupation: np.ndarray
    negative_occupation: np.ndarray


def neighbour_pools(taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    """CSR (offsets, members) of each occupation's hard-negative occupations.

    Related occupations and SOC broad-group siblings; occupations with neither fall back to
    the minor, then the major group, so every occupation has a near miss to learn from.
    """
    n = len(taxonomy)
    related = np.zeros((n, n), dtype=bool)
    rows = [
        (i, taxonomy.index[r])
        for i, o in enumerate(taxonomy.occupations)
        for r in o.related
        if r in taxonomy.index
    ]
    if rows:
        a, b = np.array(rows).T
        related[a, b] = related[b, a] = True
    pool = related
    for level in ("broad", "minor", "major"):
        ids = taxonomy.level_ids(level)
        same: np.ndarray = ids[:, None] == ids[None, :]
        empty = np.logical_not((pool & ~np.eye(n, dtype=bool)).any(axis=1))
        pool = pool | same if level == "broad" else pool | (same & empty[:, None])
    pool &= ~np.eye(n, dtype=bool)
    empty = np.logical_not(pool.any(axis=1))
    pool[empty] = ~np.eye(n, dtype=bool)[empty]
    row, member = np.nonzero(pool)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n))])
    return offsets, member


class TripletSampler:
    """Draws TitleBatch-es from the training titles; vectorised, seeded, no per-title loops."""

    def __init__(self, taxonomy: Taxonomy, train: pd.DataFrame, seed: int):
        occ = pd.Series(np.arange(len(taxonomy)), index=taxonomy.codes)
        frame = train.assign(occ=occ.reindex(train["code"]).to_numpy()).sort_values(["occ", "key"])
        self.titles = frame["title"].to_numpy()
        counts = np.bincount(frame["occ"].to_numpy(), minlength=len(taxonomy))
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.counts = counts
        self.anchor_occupations = np.flatnonzero(counts >= 2)
        self.pool_offsets, self.pool_members = neighbour_pools(taxonomy)
        self.rng = np.random.default_rng(seed)
        if self.anchor_occupations.size < 2:
            raise ValueError("need at least two occupations with two training titles each")

    def sample(self, batch_size: int) -> TitleBatch:
        size = min(batch_size, self.anchor_occupations.size)
        occ = self.rng.choice(self.anchor_occupations, size=size, replace=False)
        count = self.counts[occ]
        first = self.rng.integers(0, count)
        second = (first + 1 + self.rng.integers(0, count - 1)) % count
        pool_size = self.pool_offsets[occ + 1] - self.pool_offsets[occ]
        neg_occ = self.pool_members[self.pool_offsets[occ] + self.rng.integers(0, pool_size)]
        neg = self.offsets[neg_occ] + self.rng.integers(0, self.counts[neg_occ])
        return TitleBatch(
            anchors=self.titles[self.offsets[occ] + first].tolist(),
            positives=self.titles[self.offsets[occ] + second].tolist(),
            negatives=self.titles[neg].tolist(),
            occupation=occ,
            negative_occupation=neg_occ,
        )


def taxonomy_infonce(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    occupation: torch.Tensor,
    negative_occupation: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Symmetric in-batch-negatives loss that never treats a same-occupation title as negative.

    Embeddings are unit length, so a @ b.T is cosine. Forward: anchor i against all positives
    and hard negatives, target positive i. Backward: positive i against all anchors, target
    anchor i. Occupations are distinct across rows, so only hard negatives can collide.
    """
    docs = torch.cat([positives, negatives])
    doc_occupation = torch.cat([occupation, negative_occupation])
    logits = scale * anchors @ docs.T
    rows = torch.arange(anchors.shape[0], device=anchors.device)
    same = occupation[:, None] == doc_occupation[None, :]
    same[rows, rows] = False
    logits = logits.masked_fill(same, float("-inf"))
    backward_logits = scale * positives @ anchors.T
    return (F.cross_entropy(logits, rows) + F.cross_entropy(backward_logits, rows)) / 2


def _lr_lambda(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def resolve_config(
    *,
    budget_steps: int | None = None,
    budget_minutes: float | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    heldout_fraction: float | None = None,
    device: str | None = None,
) -> TrainingConfig:
    """Fill unset knobs from settings; no step budget means the full schedule on a GPU."""
    from recsys.settings import get_settings

    settings = get_settings()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if budget_steps is None:
        budget_steps = (
            settings.encoder_gpu_steps
            if device.startswith("cuda")
            else settings.encoder_budget_steps
        )
    if budget_steps < 1:
        raise ValueError(f"budget_steps must be at least 1, got {budget_steps}")
    return TrainingConfig(
        budget_steps=budget_steps,
        budget_minutes=settings.encoder_budget_minutes
        if budget_minutes is None
        else budget_minutes,
        batch_size=batch_size or settings.encoder_batch_size,
        learning_rate=learning_rate or settings.encoder_learning_rate,
        seed=settings.seed if seed is None else seed,
        max_seq_length=settings.encoder_max_seq_length,
        heldout_fraction=(
            settings.encoder_heldout_fraction if heldout_fraction is None else heldout_fraction
        ),
        device=device,
    )


def fit(
    model: Any, sampler: TripletSampler, config: TrainingConfig, on_step: StepCallback | None = None
) -> dict[str, Any]:
    """Run the optimisation loop in place; stops at the step or the time budget, first hit."""
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    warmup = max(1, int(config.warmup_fraction * config.budget_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(config.budget_steps, warmup)
    )
    deadline = (
        None if config.budget_minutes is None else time.monotonic() + 60 * config.budget_minutes
    )
    autocast = torch.autocast(
        "cuda", dtype=torch.bfloat16, enabled=config.device.startswith("cuda")
    )
    losses: list[float] = []
    started = time.monotonic()
    step = 0
    while step < config.budget_steps and (deadline is None or time.monotonic() < deadline):
        batch = sampler.sample(config.batch_size)
        with autocast:
            embedded = [
                model(_to(model.preprocess(texts), config.device))["sentence_embedding"].float()
                for texts in (batch.anchors, batch.positives, batch.negatives)
            ]
            loss = taxonomy_infonce(
                embedded[0],
                embedded[1],
                embedded[2],
                torch.as_tensor(batch.occupation, device=config.device),
                torch.as_tensor(batch.negative_occupation, device=config.device),
                config.scale,
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        step += 1
        if on_step:
            on_step(step, config.budget_steps, losses[-1])
    model.eval()
    tail = losses[-max(1, len(losses) // 10) :]
    return {
        "steps": step,
        "stopped_by": "steps" if step >= config.budget_steps else "minutes",
        "seconds": round(time.monotonic() - started, 1),
        "first_loss": round(losses[0], 4) if losses else None,
        "final_loss": round(float(np.mean(tail)), 4) if losses else None,
    }


def _to(features: dict[str, Any], device: str) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}


def _prepare_out_dir(out_dir: Path) -> Path:
    """A fresh staging folder next to `out_dir`; refuses to replace a folder that is not ours."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / METADATA_FILE).is_file():
        raise EncoderError(
            f"{out_dir} exists and is not an encoder folder (no {METADATA_FILE}); "
            "choose an empty or new --out"
        )
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _onnx_agreement(
    model: Any, onnx_path: Path, folder: Path, titles: list[str], max_seq_length: int
) -> float:
    """Smallest cosine between torch and ONNX vectors of `titles` (1.0 = identical)."""
    reference = model.encode(titles, convert_to_numpy=True, normalize_embeddings=True)
    exported = OnnxEmbedder(onnx_path, folder / "tokenizer.json", max_seq_length)(titles)
    return float((reference * exported).sum(axis=1).min())


def own_results(metadata: dict[str, Any]) -> dict[str, Any]:
    """The encoder's own row of the retrieval evaluation in its metadata.

    `train_encoder` names that row after the model's recorded `name` (the folder it was trained
    into, e.g. `artifacts/encoders/<date>`), beside the `base` and `tfidf` rows; this is the one
    place that knows it, so the folder's current name (moved, renamed) does not matter.
    """
    evaluation = metadata.get("evaluation")
    if not evaluation:
        raise ValueError(
            f"encoder {metadata.get('name')!r} was not evaluated; train it with evaluation on"
        )
    name = metadata.get("name")
    own = [r for r in evaluation["results"] if r["model"] == name]
    if not own:
        models = [r["model"] for r in evaluation["results"]]
        raise ValueError(f"encoder {name!r} has no results of its own among {models}")
    return dict(own[-1])  # its row comes last, after the baselines


def train_encoder(
    taxonomy: Taxonomy,
    out_dir: Path,
    *,
    budget_steps: int | None = None,
    budget_minutes: float | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    heldout_fraction: float | None = None,
    device: str | None = None,
    evaluate: bool = True,
    benchmark_queries: int | None = None,
    on_step: StepCallback | None = None,
) -> Path:
    """Fine-tune from the base model and save a self-describing encoder folder at `out_dir`.

    The folder holds the sentence-transformers save, `onnx/title_encoder.onnx`,
    `heldout_titles.tsv`, the `benchmark/` files and `recsys_encoder.json`. With `evaluate`,
    the metadata also carries the `onet` benchmark for base, tfidf and this model. The folder
    appears only when complete (built beside it, then renamed), so a crash leaves no half model.
    """
    from sentence_transformers import SentenceTransformer

    from recsys.recall.retrieval_evaluation import evaluate_retrieval, paired_comparison
    from recsys.recall.title_benchmarks import onet_benchmark

    config = resolve_config(
        budget_steps=budget_steps,
        budget_minutes=budget_minutes,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        heldout_fraction=heldout_fraction,
        device=device,
    )
    out_dir = Path(out_dir)
    staging = _prepare_out_dir(out_dir)
    torch.manual_seed(config.seed)
    split: TitleSplit = split_titles(
        taxonomy, heldout_fraction=config.heldout_fraction, seed=config.seed
    )
    sampler = TripletSampler(taxonomy, split.train, config.seed)
    base_dir = base_model_dir()
    model = SentenceTransformer(str(base_dir), device=config.device)
    model.max_seq_length = config.max_seq_length
    started_at = datetime.now(UTC)
    training = fit(model, sampler, config, on_step)

    model.save(str(staging), create_model_card=False)
    onnx_path = staging / ONNX_FILE
    from recsys.recall.onnx_export import export_sentence_transformer

    export_sentence_transformer(model, onnx_path)
    probe = (
        split.heldout["title"].drop_duplicates().head(256).tolist()
        or split.train["title"].head(256).tolist()
    )
    agreement = _onnx_agreement(model, onnx_path, staging, probe, config.max_seq_length)
    split.heldout[["title", "code"]].to_csv(staging / HELDOUT_FILE, sep="\t", index=False)
    if benchmark_queries is None:
        from recsys.settings import get_settings

        benchmark_queries = get_settings().encoder_benchmark_queries
    benchmark = onet_benchmark(taxonomy, split, max_queries=benchmark_queries, seed=config.seed)
    benchmark.write(staging / BENCHMARK_DIR)
    metadata: dict[str, Any] = {
        "name": out_dir.name,
        "trained": True,
        "base_model": BASE_MODEL_NAME,
        "base_fingerprint": fingerprint(base_dir),
        "dim": int(model.get_embedding_dimension() or 0),
        "max_seq_length": config.max_seq_length,
        "onnx": {"file": ONNX_FILE, "min_cosine_vs_torch": round(agreement, 6)},
        "training": {
            **asdict(config),
            **training,
            "loss": "symmetric InfoNCE, in-batch + one hard negative, same-occupation masked",
            "started_at": started_at.isoformat(timespec="seconds"),
            "torch": torch.__version__,
            "n_occupations": len(taxonomy),
            "n_anchor_occupations": int(sampler.anchor_occupations.size),
        },
        "split": split.describe(),
        "evaluation": None,
    }
    write_metadata(staging, metadata)
    del model
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)

    if evaluate:
        results = evaluate_retrieval(benchmark, [BASE, "tfidf", str(out_dir)])
        results[-1].model = metadata["name"]  # the row `own_results` reads back
        metadata["evaluation"] = {
            "benchmark": benchmark.name,
            "relevance_threshold": benchmark.relevance_threshold,
            "results": [r.summary() for r in results],
            "significance": [paired_comparison(results[-1], other) for other in results[:-1]],
        }
        write_metadata(out_dir, metadata)
    return out_dir
