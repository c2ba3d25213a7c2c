"""Fine-tune the title encoder on the O*NET and ESCO taxonomies.

Goal: titles of one occupation land together, and taxonomy neighbours stay nearer each other
than unrelated occupations. Each step samples `batch_size` distinct occupations and, for each,
two different training titles (anchor, positive) plus one title of a neighbouring occupation
(O*NET "related" or same SOC broad group) as a hard negative. The loss is InfoNCE with
in-batch negatives (MultipleNegativesRankingLoss), made symmetric, with one change that matters
for a taxonomy: a candidate from the anchor's own occupation is masked instead of being treated
as a negative. Plain MNRL would push apart two titles of one occupation whenever a hard
negative happens to come from another row's occupation.

Steps alternate between two sources of supervision, never mixed in one batch (the same job
may be an occupation in both, which would make a false in-batch negative): O*NET (alternate
titles; negatives from related occupations and SOC siblings) and ESCO (alternative labels;
negatives from the same ISCO unit, then minor group). A share of anchors is decorated like
posting titles (`recsys.recall.title_noise`). Each step embeds anchors, positives and
negatives together, sorted by length into chunks each padded to its own longest title
(`embed_by_length`), with the word-embedding table frozen (and, if configured, the lowest
blocks); the learning-rate schedule follows the larger of step and time progress, so a
minutes budget gets a full warmup and decay.

Validation holds out O*NET title strings and whole ESCO occupations (see
`recsys.recall.title_split`); the saved folder carries its own evaluation on those titles
(the `onet` benchmark), so a model is never promoted on numbers nobody can reproduce.
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
    length_batches,
    write_metadata,
)
from recsys.recall.encoder_batches import (
    GroupSampler,
    TrainingBatches,
    TripletSampler,
    esco_sampler,
)
from recsys.recall.title_noise import TitleNoiser, posting_locations
from recsys.recall.title_split import (
    TitleSplit,
    heldout_esco_occupations,
    normalize_title,
    split_titles,
)

HELDOUT_FILE = "heldout_titles.tsv"
#: Step budget when only minutes are given: time ends the run long before this.
UNLIMITED_STEPS = 1_000_000
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
    esco_weight: float = 0.0
    esco_heldout_fraction: float = 0.2
    noise_rate: float = 0.0
    freeze_embeddings: bool = False
    frozen_layers: int = 0
    cpu_bf16: bool = False
    chunk_tokens: int = 0


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


def lr_factor(progress: float, warmup: float) -> float:
    """Linear warmup then linear decay over progress in [0, 1] (steps or time, whichever leads)."""
    if progress < warmup:
        return max(progress / warmup, 0.01)
    return max(0.0, (1.0 - progress) / max(1e-9, 1.0 - warmup))


def resolve_config(
    *,
    budget_steps: int | None = None,
    budget_minutes: float | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    heldout_fraction: float | None = None,
    device: str | None = None,
    esco_weight: float | None = None,
    noise_rate: float | None = None,
) -> TrainingConfig:
    """Fill unset knobs from settings.

    A minutes budget without a step budget lets time alone decide (the schedule follows time);
    neither means the settings' steps, the full schedule on a GPU. Length chunks apply on CPU
    only, where they were measured; a GPU keeps its one padded forward.
    """
    from recsys.settings import get_settings

    settings = get_settings()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if budget_minutes is None:
        budget_minutes = settings.encoder_budget_minutes
    if budget_steps is None:
        if budget_minutes is not None:
            budget_steps = UNLIMITED_STEPS
        elif device.startswith("cuda"):
            budget_steps = settings.encoder_gpu_steps
        else:
            budget_steps = settings.encoder_budget_steps
    if budget_steps < 1:
        raise ValueError(f"budget_steps must be at least 1, got {budget_steps}")
    return TrainingConfig(
        budget_steps=budget_steps,
        budget_minutes=budget_minutes,
        batch_size=batch_size or settings.encoder_batch_size,
        learning_rate=learning_rate or settings.encoder_learning_rate,
        seed=settings.seed if seed is None else seed,
        max_seq_length=settings.encoder_train_max_seq_length,
        heldout_fraction=(
            settings.encoder_heldout_fraction if heldout_fraction is None else heldout_fraction
        ),
        device=device,
        esco_weight=settings.encoder_esco_weight if esco_weight is None else esco_weight,
        esco_heldout_fraction=settings.encoder_esco_heldout_fraction,
        noise_rate=settings.encoder_noise_rate if noise_rate is None else noise_rate,
        freeze_embeddings=settings.encoder_freeze_embeddings,
        frozen_layers=settings.encoder_frozen_layers,
        cpu_bf16=settings.encoder_cpu_bf16,
        chunk_tokens=0 if device.startswith("cuda") else settings.encoder_train_chunk_tokens,
    )


def transformer_layers(model: Any) -> torch.nn.ModuleList:
    """The encoder's stack of transformer blocks, bottom first (BERT-style `encoder.layer`)."""
    for module in model.modules():
        layers = getattr(getattr(module, "encoder", None), "layer", None)
        if isinstance(layers, torch.nn.ModuleList):
            return layers
    raise EncoderError("the model has no `encoder.layer` stack of transformer blocks")


def trainable_parameters(
    model: Any, freeze_embeddings: bool, frozen_layers: int = 0
) -> list[torch.nn.Parameter]:
    """Parameters the optimiser updates, after freezing what the config says stays fixed.

    The word-embedding table is half of MiniLM's weights; a title batch touches a few hundred
    of its 30k rows, yet AdamW would update (and decay) all of them every step. With
    `frozen_layers` > 0 the whole embedding module and the lowest blocks are frozen too: no
    parameter below the first trainable block needs a gradient, so autograd neither keeps
    their activations nor runs their backward pass, which is most of a CPU step's cost.
    Every call sets every flag, so one model can be switched between recipes.
    """
    layers = transformer_layers(model)
    if not 0 <= frozen_layers <= len(layers):
        raise ValueError(f"frozen_layers must be in [0, {len(layers)}], got {frozen_layers}")
    model.requires_grad_(True)
    for module in model.modules():
        if hasattr(module, "word_embeddings"):
            module.requires_grad_(frozen_layers == 0)
            module.word_embeddings.weight.requires_grad_(
                frozen_layers == 0 and not freeze_embeddings
            )
    for layer in layers[:frozen_layers]:
        layer.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def embed_by_length(model: Any, texts: list[str], device: str, chunk_tokens: int) -> torch.Tensor:
    """Sentence embeddings of `texts`, in order, from forwards over length-sorted chunks.

    Padding every title of a step to the step's longest wastes most of the work: a noisy
    anchor with a location and pay tail runs to the 32-token cap while most titles are a
    handful of tokens (65% of the slots of a demo step are padding). Sorted by length and cut
    into chunks of at most `chunk_tokens` padded tokens (`length_batches`, as bulk encoding
    does), each chunk pads only to its own longest title. Mean pooling ignores padding, so the
    vectors are those of one padded forward. `chunk_tokens` 0: one forward over everything.
    """
    features = _to(model.preprocess(texts), device)
    if chunk_tokens <= 0:
        return model(features)["sentence_embedding"].float()
    lengths = features["attention_mask"].sum(dim=1).cpu().numpy()
    order = np.argsort(lengths, kind="stable")
    cuts = length_batches(lengths[order], chunk_tokens)
    chunks = []
    for start, stop in zip(cuts, cuts[1:], strict=False):
        rows = torch.as_tensor(order[start:stop], device=device)
        width = int(lengths[order[stop - 1]])
        chunk = {
            k: v[rows, :width] if isinstance(v, torch.Tensor) else v for k, v in features.items()
        }
        chunks.append(model(chunk)["sentence_embedding"].float())
    inverse = torch.as_tensor(np.argsort(order, kind="stable"), device=device)
    return torch.cat(chunks)[inverse]


def step_autocast(config: TrainingConfig) -> torch.autocast:
    """bf16 autocast for forward and loss: always on CUDA, on CPU only when configured."""
    device = "cuda" if config.device.startswith("cuda") else "cpu"
    return torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda" or config.cpu_bf16)


def fit(
    model: Any,
    sampler: TrainingBatches | GroupSampler,
    config: TrainingConfig,
    on_step: StepCallback | None = None,
) -> dict[str, Any]:
    """Run the optimisation loop in place; stops at the step or the time budget, first hit."""
    model.train()
    params = trainable_parameters(model, config.freeze_embeddings, config.frozen_layers)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    budget_s = None if config.budget_minutes is None else 60 * config.budget_minutes
    autocast = step_autocast(config)
    losses: list[float] = []
    started = time.monotonic()
    step = 0
    progress = 0.0
    while progress < 1.0:
        factor = lr_factor(progress, config.warmup_fraction)
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * factor
        batch = sampler.sample(config.batch_size)
        n = len(batch.anchors)
        texts = batch.anchors + batch.positives + batch.negatives
        with autocast:
            embedded = embed_by_length(model, texts, config.device, config.chunk_tokens)
            loss = taxonomy_infonce(
                embedded[:n],
                embedded[n : 2 * n],
                embedded[2 * n :],
                torch.as_tensor(batch.occupation, device=config.device),
                torch.as_tensor(batch.negative_occupation, device=config.device),
                config.scale,
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        step += 1
        elapsed = time.monotonic() - started
        progress = max(step / config.budget_steps, 0.0 if budget_s is None else elapsed / budget_s)
        if on_step:
            on_step(step, config.budget_steps, losses[-1])
    model.eval()
    tail = losses[-max(1, len(losses) // 10) :]
    seconds = time.monotonic() - started
    return {
        "steps": step,
        "stopped_by": "steps" if step >= config.budget_steps else "minutes",
        "seconds": round(seconds, 1),
        "steps_per_second": round(step / max(seconds, 1e-9), 3),
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


def esco_training_labels(
    data_dir: Path, exclude_keys: set[str], heldout_fraction: float, seed: int
) -> tuple[pd.DataFrame, set[str]]:
    """ESCO labels to train on and the occupations held out whole.

    Labels shared by several ESCO occupations are dropped (no single right place), and so are
    labels that are also O*NET held-out titles or `soc` benchmark queries, so neither
    benchmark can be answered from memory.
    """
    from recsys.recall.title_benchmarks import unambiguous_esco_labels

    labels = unambiguous_esco_labels(data_dir)
    heldout = heldout_esco_occupations(labels["conceptUri"], fraction=heldout_fraction, seed=seed)
    keep = ~labels["conceptUri"].isin(heldout) & ~labels["key"].isin(exclude_keys)
    return labels[keep].reset_index(drop=True), heldout


def training_batches(
    taxonomy: Taxonomy, split: TitleSplit, config: TrainingConfig
) -> tuple[TrainingBatches, dict[str, Any]]:
    """The step sources (O*NET, and ESCO when it is in the data and weighted) and the noiser."""
    from recsys.recall.title_benchmarks import ESCO_FILE, soc_benchmark
    from recsys.settings import get_settings

    data_dir = get_settings().data_dir
    onet = TripletSampler(taxonomy, split.train, config.seed)
    sources: list[tuple[str, GroupSampler, float]] = [("onet", onet, 1.0 - config.esco_weight)]
    esco_split: dict[str, Any] = {"used": False}
    if config.esco_weight > 0 and (Path(data_dir) / ESCO_FILE).is_file():
        exclude = set(split.heldout["key"]) | set(
            soc_benchmark(taxonomy).queries["jobtitle"].map(normalize_title)
        )
        labels, heldout = esco_training_labels(
            data_dir, exclude, config.esco_heldout_fraction, config.seed
        )
        sources.append(("esco", esco_sampler(labels, config.seed), config.esco_weight))
        esco_split = {
            "used": True,
            "seed": config.seed,
            "heldout_fraction": config.esco_heldout_fraction,
            "heldout_occupations": len(heldout),
            "train_occupations": int(labels["conceptUri"].nunique()),
            "train_labels": len(labels),
        }
    elif config.esco_weight >= 1.0:
        raise EncoderError(f"esco_weight is 1 but {Path(data_dir) / ESCO_FILE} is missing")
    noiser = (
        TitleNoiser(posting_locations(data_dir), config.noise_rate, config.seed)
        if config.noise_rate > 0
        else None
    )
    return TrainingBatches(sources, noiser, config.seed), esco_split


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
    esco_weight: float | None = None,
    noise_rate: float | None = None,
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
        esco_weight=esco_weight,
        noise_rate=noise_rate,
    )
    out_dir = Path(out_dir)
    staging = _prepare_out_dir(out_dir)
    torch.manual_seed(config.seed)
    split: TitleSplit = split_titles(
        taxonomy, heldout_fraction=config.heldout_fraction, seed=config.seed
    )
    sampler = TripletSampler(taxonomy, split.train, config.seed)
    batches, esco_split = training_batches(taxonomy, split, config)
    base_dir = base_model_dir()
    model = SentenceTransformer(str(base_dir), device=config.device)
    model.max_seq_length = config.max_seq_length
    started_at = datetime.now(UTC)
    training = fit(model, batches, config, on_step)

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
            "batches_by_source": dict(batches.drawn),
        },
        "split": split.describe(),
        "esco_split": esco_split,
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
