"""The retrain's offline evaluation report: the same figures as JSON and as an HTML page.

Plots: each policy's metrics on the held-out day (and as a ratio of the oracle), calibration of
the predicted apply rate on the held-out logged rows, the ranker's feature importance, and the
per-stage latency of the pipeline serving with it. Images are embedded, so the page is one file
that MLflow can show as an artifact.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPORT_HTML, REPORT_JSON = "report.html", "report.json"


def calibration_table(scores: np.ndarray, labels: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted apply rate against the observed rate, in quantile bins of the score."""
    frame = pd.DataFrame({"score": np.asarray(scores, float), "label": np.asarray(labels, float)})
    frame["bin"] = pd.qcut(frame["score"].rank(method="first"), bins, labels=False)
    table = frame.groupby("bin").agg(
        predicted=("score", "mean"), observed=("label", "mean"), rows=("label", "size")
    )
    return table.reset_index(drop=True)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _plots(
    evaluation: pd.DataFrame,
    calibration: pd.DataFrame,
    importance: Mapping[str, float],
    latency_ms: Mapping[str, float],
) -> dict[str, str]:
    out = {}
    metrics = [m for m in ("ndcg@10", "mrr", "auc", "apply_rate@10") if m in evaluation]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    evaluation[metrics].astype(float).plot.bar(ax=ax)
    ax.set_title("held-out day, per policy")
    ax.set_xlabel("")
    out["policies"] = _png(fig)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(calibration["predicted"], calibration["observed"], "o-", label="ranker")
    top = float(max(calibration["predicted"].max(), calibration["observed"].max(), 1e-6))
    ax.plot([0, top], [0, top], "--", color="grey", label="perfect")
    ax.set_xlabel("predicted apply rate")
    ax.set_ylabel("observed apply rate")
    ax.set_title("calibration (held-out logged rows)")
    ax.legend()
    out["calibration"] = _png(fig)
    imp = pd.Series(dict(importance), dtype=float).sort_values()
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(imp) + 1))
    (imp / max(imp.sum(), 1e-12)).plot.barh(ax=ax)
    ax.set_title("feature importance (share of split gain)")
    out["importance"] = _png(fig)
    fig, ax = plt.subplots(figsize=(6, 3))
    pd.Series(dict(latency_ms), dtype=float).plot.bar(ax=ax)
    ax.set_ylabel("ms (median)")
    ax.set_title("per-stage latency")
    out["latency"] = _png(fig)
    return out


def write_report(
    folder: Path,
    title: str,
    evaluation: pd.DataFrame,
    calibration: pd.DataFrame,
    importance: Mapping[str, float],
    latency_ms: Mapping[str, float],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write `report.json` and `report.html` into `folder`; returns the HTML path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    figures = {
        "title": title,
        "evaluation": json.loads(evaluation.to_json(orient="index")),
        "calibration": calibration.to_dict(orient="records"),
        "feature_importance": dict(importance),
        "latency_ms": dict(latency_ms),
        **dict(extra or {}),
    }
    (folder / REPORT_JSON).write_text(json.dumps(figures, indent=2, default=str) + "\n")
    images = _plots(evaluation, calibration, importance, latency_ms)
    rows = "".join(
        f"<h2>{html.escape(name)}</h2><img src='data:image/png;base64,{png}'/>"
        for name, png in images.items()
    )
    table = evaluation.astype(float).round(4).to_html()
    facts = "".join(
        f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
        for k, v in (extra or {}).items()
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><ul>{facts}</ul>{table}{rows}</body></html>"
    )
    path = folder / REPORT_HTML
    path.write_text(page)
    return path
