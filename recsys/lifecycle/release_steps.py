"""The retrain's steps after the evaluation: register, the promotion gate, the index, the notice."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from recsys.catalog_db import CatalogNotMigratedError, CatalogStore
from recsys.data.taxonomy import load_taxonomy
from recsys.lifecycle.promotion import decide
from recsys.lifecycle.retrain_job import RetrainJob
from recsys.pipeline.build import serving_encoder
from recsys.ranking.features import FEATURE_NAMES
from recsys.ranking.train import KINDS
from recsys.recall.encoder import TitleEncoder
from recsys.recall.occupations import OccupationIndex
from recsys.registry.mlflow_registry import CHALLENGER, CHAMPION, RANKER_MODEL
from recsys.service.catalog_source import load_rows

log = logging.getLogger(__name__)


def register(job: RetrainJob) -> dict[str, Any]:
    """Log every candidate's run to MLflow; register the best as a version, alias challenger.

    Idempotent: a date whose best candidate is already registered is not registered again.
    """
    registry = job.registry()
    evaluation = job.read("evaluate")
    best = evaluation["best"]
    done = job.folder / "register.json"
    if done.is_file():
        recorded = json.loads(done.read_text())
        for v in registry.versions(RANKER_MODEL):
            if v.version == recorded["version"] and v.run_id == recorded["runs"][best]:
                return recorded
    features = job.folder / "features.json"
    features.write_text(json.dumps(list(FEATURE_NAMES), indent=2))
    runs = {}
    for kind in KINDS:
        if not job.trained(kind):
            continue
        tags = {"retrain_date": job.day.isoformat(), "kind": kind}
        previous = registry.find_run("apply-rate-ranker", tags)
        if previous is not None:  # a retry after a failure past this point
            runs[kind] = previous
            continue
        trained = job.read(f"train_{kind}")
        held_out = evaluation["table"][f"candidate:{kind}"]
        metrics = {f"valid_{k}": v for k, v in trained["validation"].items()}
        metrics.update({f"heldout_{k}": v for k, v in held_out.items()})
        runs[kind] = registry.log_run(
            "apply-rate-ranker",
            f"{kind} {job.day}",
            params={
                **trained["params"],
                "kind": kind,
                "until": job.day,
                "rows": trained["train_rows"],
            },
            metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
            artifacts={
                "model": job.candidate_dir(kind),
                "features": features,
                "report": job.report_dir,
            },
            tags=tags,
        )
    version = registry.register(
        RANKER_MODEL,
        runs[best],
        tags={
            "kind": best,
            "retrain_date": job.day.isoformat(),
            "heldout_ndcg_at_10": f"{evaluation['table'][f'candidate:{best}']['ndcg@10']:.6f}",
        },
    )
    registry.set_alias(RANKER_MODEL, CHALLENGER, version.version)
    return job.write("register", {"version": version.version, "kind": best, "runs": runs})


def promote(job: RetrainJob) -> dict[str, Any]:
    """The gate: the challenger becomes champion, or the champion stays; the reason is logged."""
    done = job.folder / "promote.json"
    if done.is_file():
        return json.loads(done.read_text())
    registry = job.registry()
    evaluation, registered = job.read("evaluate"), job.read("register")
    table = evaluation["table"]
    candidate = float(table[f"candidate:{evaluation['best']}"]["ndcg@10"])
    current = registry.by_alias(RANKER_MODEL, CHAMPION)
    champion_score = None
    if current is not None and "champion" in table:
        if current.version != evaluation["champion_version"]:
            raise RuntimeError(
                f"the champion moved from version {evaluation['champion_version']} to "
                f"{current.version} since the evaluation; re-run evaluate for {job.day}"
            )
        champion_score = float(table["champion"]["ndcg@10"])
    decision = decide(
        candidate, champion_score, job.settings.promotion_margin, evaluation["sanity_problems"]
    )
    version = registered["version"]
    registry.set_version_tag(RANKER_MODEL, version, "decision", decision.reason)
    if decision.promote:
        if current is not None and current.version != version:
            registry.set_version_tag(RANKER_MODEL, version, "previous_champion", current.version)
        registry.set_alias(RANKER_MODEL, CHAMPION, version)
        registry.delete_alias(RANKER_MODEL, CHALLENGER)
    log.info("retrain %s: version %s %s", job.day, version, decision.reason)
    return job.write(
        "promote",
        {
            "version": version,
            "promoted": decision.promote,
            "reason": decision.reason,
            "champion": version if decision.promote else (current.version if current else None),
        },
    )


def rebuild_index(job: RetrainJob) -> dict[str, Any]:
    """Bring the catalog database's derived data (embeddings, coded occupations) up to the
    serving encoder, so API processes start without re-embedding; postings already embedded by
    this encoder are left as they are."""
    s = job.settings
    taxonomy = load_taxonomy(s.data_dir)
    encoder = TitleEncoder.load(serving_encoder(s))
    try:
        store = CatalogStore.open(s.catalog_url)
    except CatalogNotMigratedError as exc:  # a simulated market never served: nothing to embed
        return job.write("rebuild_index", {"rebuilt": False, "reason": str(exc), "jobs": 0})
    before = store.postings.count_derived(encoder.fingerprint)
    t0 = time.perf_counter()
    occupations = OccupationIndex.load_or_build(encoder, taxonomy, s.artifacts_dir)
    rows = load_rows(store, encoder, occupations, taxonomy)
    seconds = round(time.perf_counter() - t0, 2)
    embedded = len(rows.jobs) - before
    store.close()
    return job.write(
        "rebuild_index",
        {
            "rebuilt": embedded > 0,
            "reason": f"{embedded} postings embedded"
            if embedded
            else "encoder and catalog unchanged",
            "key": f"{encoder.fingerprint[:16]}-seq{rows.seq}",
            "jobs": len(rows.jobs),
            "seconds": seconds,
        },
    )


def notify(job: RetrainJob) -> dict[str, Any]:
    """One line per retrain in `retrain/notifications.log`, and the date's `summary.json`."""
    decision = job.read("promote")
    evaluation = job.read("evaluate")
    index = job.read("rebuild_index")
    best = evaluation["best"]
    line = (
        f"{job.day}: {best} version {decision['version']} {decision['reason']}; "
        f"index {'rebuilt' if index['rebuilt'] else 'unchanged'}"
    )
    log_path = job.settings.retrain_root / "notifications.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as out:
        out.write(line + "\n")
    log.info(line)
    return job.write(
        "summary",
        {
            "day": job.day,
            "message": line,
            "champion": decision["champion"],
            "promoted": decision["promoted"],
            "heldout": evaluation["table"],
        },
    )
