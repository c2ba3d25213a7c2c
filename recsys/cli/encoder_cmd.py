"""`recsys encoder train|embed|prepare|show`: fine-tune the title encoder, embed titles with one,
prepare its derived artifacts ahead of use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from recsys.cli.console import console, progress, progress_callback, table
from recsys.data.taxonomy import load_taxonomy
from recsys.settings import get_settings

app = typer.Typer(help="The taxonomy-tuned title encoder.", no_args_is_help=True)


@app.command()
def train(
    out: Path = typer.Option(..., "--out", help="folder to write the model into"),
    budget: int | None = typer.Option(
        None, "--budget", min=1, help="training steps (default: settings; full schedule on GPU)"
    ),
    minutes: float | None = typer.Option(None, "--minutes", min=0.1, help="stop after this long"),
    batch_size: int | None = typer.Option(None, "--batch-size", min=2),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: detected)"),
    esco_weight: float | None = typer.Option(
        None, "--esco-weight", min=0.0, max=1.0, help="share of steps from ESCO (default settings)"
    ),
    noise_rate: float | None = typer.Option(
        None, "--noise-rate", min=0.0, max=1.0, help="share of anchors decorated like postings"
    ),
    queries: int | None = typer.Option(
        None,
        "--queries",
        min=10,
        help="held-out benchmark queries (default RECSYS_ENCODER_BENCHMARK_QUERIES: 1000)",
    ),
    evaluate: bool = typer.Option(
        True, "--evaluate/--no-evaluate", help="score on held-out titles"
    ),
) -> None:
    """Fine-tune all-MiniLM-L6-v2 on O*NET and ESCO titles; save a self-describing folder."""
    from recsys.recall.encoder import read_metadata
    from recsys.recall.encoder_training import train_encoder

    taxonomy = load_taxonomy(get_settings().data_dir)
    with progress() as bar:
        task = bar.add_task("training steps", total=budget)

        def on_step(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=budget and total, description=f"loss {loss:.3f}")

        folder = train_encoder(
            taxonomy,
            out,
            budget_steps=budget,
            budget_minutes=minutes,
            batch_size=batch_size,
            device=device,
            esco_weight=esco_weight,
            noise_rate=noise_rate,
            evaluate=evaluate,
            benchmark_queries=queries,
            on_step=on_step,
        )
    metadata = read_metadata(folder)
    training = metadata["training"]
    console.print(
        f"trained {training['steps']} steps in {training['seconds']} s on {training['device']} "
        f"(loss {training['first_loss']} -> {training['final_loss']}); saved to {folder}"
    )
    if metadata.get("evaluation"):
        _print_evaluation(metadata["evaluation"])


def _print_evaluation(evaluation: dict) -> None:
    from recsys.recall.retrieval_evaluation import SUMMARY_KEYS

    results = evaluation["results"]
    console.print(
        table(
            f"held-out {evaluation['benchmark']} titles",
            SUMMARY_KEYS,
            [[r[k] for k in SUMMARY_KEYS] for r in results],
        )
    )
    for s in evaluation.get("significance", []):
        console.print(
            f"{s['model']} - {s['baseline']}: {s['metric']} {s['mean_difference']:+.4f} "
            f"(paired randomization p={s['p_randomization']:.2g})"
        )


@app.command()
def embed(
    titles: list[str] = typer.Argument(None, help="titles to embed (or use --file)"),
    model: str = typer.Option("base", "--model", help="'base' or an encoder folder"),
    file: Path | None = typer.Option(None, "--file", help="a text file, one title per line"),
    out: Path | None = typer.Option(None, "--out", help="write the vectors as .npy"),
    top: int = typer.Option(3, "--top", min=1, max=20, help="nearest occupations to show"),
) -> None:
    """Embed titles; show each one's nearest O*NET occupations, or save the vectors."""
    from recsys.recall.encoder import TitleEncoder
    from recsys.recall.occupations import OccupationIndex

    texts = list(titles or [])
    if file is not None:
        if not file.is_file():
            raise typer.BadParameter(f"no file {file}", param_hint="--file")
        texts += [line.strip() for line in file.read_text().splitlines() if line.strip()]
    if not texts:
        raise typer.BadParameter("give titles as arguments or with --file")
    encoder = TitleEncoder.load(model)
    with progress() as bar:
        vectors = encoder.encode(texts, on_progress=progress_callback(bar, "titles"))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, vectors)
        console.print(f"{len(texts)} vectors of dim {encoder.dim} -> {out}")
        return
    settings = get_settings()
    taxonomy = load_taxonomy(settings.data_dir)
    occupations = OccupationIndex.load_or_build(encoder, taxonomy, settings.artifacts_dir)
    rows = [
        [text, "; ".join(f"{taxonomy.occupations[j].title} ({cos:.2f})" for j, cos in near)]
        for text, near in zip(texts, occupations.nearest(vectors, top))
    ]
    console.print(
        table(
            f"nearest occupations ({encoder.name}, {encoder.backend})",
            ["title", "occupations (cosine)"],
            rows,
        )
    )


@app.command()
def prepare(
    model: str = typer.Argument("base", help="'base' or an encoder folder"),
) -> None:
    """Build what an encoder needs before its first use, into the artifacts folder: its ONNX
    graph (and int8 graph, with RECSYS_ENCODER_ONNX_INT8) and its occupation index over the
    taxonomy's ~57k titles. Otherwise the first server start, demo or test run with that
    encoder pays for them (about 50 s for the base encoder on two cores). `make install` runs
    it for the base encoder."""
    import time

    from recsys.recall.encoder import TitleEncoder
    from recsys.recall.occupations import OccupationIndex

    settings = get_settings()
    start = time.perf_counter()
    encoder = TitleEncoder.load(model)
    encoder.encode(["warm-up"])
    graph_s = time.perf_counter() - start
    console.print(f"{encoder.name}: {encoder.backend} graph ready in {graph_s:.1f} s")
    taxonomy = load_taxonomy(settings.data_dir)
    start = time.perf_counter()
    OccupationIndex.load_or_build(encoder, taxonomy, settings.artifacts_dir)
    console.print(f"occupation index ready in {time.perf_counter() - start:.1f} s")


@app.command()
def show(folder: Path = typer.Argument(..., help="an encoder folder")) -> None:
    """Print how a model folder was trained and how it scored."""
    from recsys.recall.encoder import read_metadata

    console.print_json(json.dumps(read_metadata(folder), default=str))
