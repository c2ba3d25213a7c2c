"""The encoder's lifecycle: fine-tune, evaluate retrieval, register (with its job index), and
promote when it retrieves better than the champion on the held-out O*NET titles."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

from recsys.data.taxonomy import load_taxonomy
from recsys.lifecycle.promotion import decide
from recsys.recall.encoder import read_metadata
from recsys.recall.encoder_training import own_results, train_encoder
from recsys.registry.mlflow_registry import CHALLENGER, CHAMPION, ENCODER_MODEL, ModelRegistry
from recsys.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: the retrieval metric the encoder gate compares (held-out O*NET titles)
GATE_METRIC = "ndcg@10"


def _own_results(folder: Path) -> dict[str, float]:
    """The folder's own retrieval metrics (numbers only), as `train_encoder` recorded them."""
    try:
        own = own_results(read_metadata(folder))
    except ValueError as exc:
        raise ValueError(f"encoder at {folder}: {exc}") from exc
    return {k: float(v) for k, v in own.items() if isinstance(v, int | float)}


def register_encoder(
    folder: Path, settings: Settings | None = None, index_dir: Path | None = None
) -> dict[str, Any]:
    """Log the encoder's run (training params, retrieval metrics, the model and, when given, the
    job index built with it), register it, and promote it if it beats the champion."""
    settings = settings or get_settings()
    registry = ModelRegistry.from_settings(settings)
    meta = read_metadata(folder)
    metrics = _own_results(folder)
    artifacts: dict[str, Path] = {"model": Path(folder)}
    if index_dir is not None and Path(index_dir).is_dir():
        artifacts["index"] = Path(index_dir)
    evaluation = Path(folder) / "recsys_encoder.json"
    artifacts["evaluation"] = evaluation
    run_id = registry.log_run(
        "title-encoder",
        f"encoder {meta['fingerprint'][:12]}",
        params=meta.get("training", {}),
        metrics=metrics,
        artifacts=artifacts,
        tags={"fingerprint": meta["fingerprint"]},
    )
    version = registry.register(
        ENCODER_MODEL, run_id, tags={"fingerprint": meta["fingerprint"][:16]}
    )
    champion = registry.by_alias(ENCODER_MODEL, CHAMPION)
    champion_score = (
        None if champion is None else champion.metrics.get(GATE_METRIC.replace("@", "_at_"))
    )
    decision = decide(metrics[GATE_METRIC], champion_score, settings.promotion_margin, [])
    registry.set_version_tag(ENCODER_MODEL, version.version, "decision", decision.reason)
    registry.set_alias(ENCODER_MODEL, CHAMPION if decision.promote else CHALLENGER, version.version)
    log.info("encoder version %s %s", version.version, decision.reason)
    return {
        "version": version.version,
        "promoted": decision.promote,
        "reason": decision.reason,
        "metrics": metrics,
    }


def weekly_encoder(day: date | str, settings: Settings | None = None) -> dict[str, Any]:
    """Fine-tune a new encoder into `artifacts/encoders/<day>/` (kept when already there),
    evaluate and register it."""
    settings = settings or get_settings()
    day = date.fromisoformat(day) if isinstance(day, str) else day
    out = settings.artifacts_dir / "encoders" / day.isoformat()
    if not (out / "recsys_encoder.json").is_file():
        train_encoder(load_taxonomy(settings.data_dir), out)
    result = register_encoder(out, settings)
    (out.parent / f"{day.isoformat()}.json").write_text(json.dumps(result, indent=2))
    return result
