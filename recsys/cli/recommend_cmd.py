"""`recsys recommend`: one request through the whole pipeline, with reasons and timings."""

from __future__ import annotations

from pathlib import Path

import typer

from recsys.cli.console import console, table
from recsys.core.context import LOCAL_RADIUS_KM, REMOTE_MODES


def recommend(
    title: str | None = typer.Option(None, "--title", help="desired job title (cold start)"),
    location: str | None = typer.Option(None, "--location", help='e.g. "Austin, TX"'),
    skills: str = typer.Option("", "--skills", help="comma-separated skills"),
    user: str | None = typer.Option(None, "--user", help="a seeker id of the market instead"),
    k: int = typer.Option(10, "--k", min=1, max=100),
    radius_km: float | None = typer.Option(
        None, "--radius-km", min=1.0, help=f"search radius (default {LOCAL_RADIUS_KM:g} km)"
    ),
    remote: str = typer.Option("acceptable", "--remote", help=" | ".join(REMOTE_MODES)),
    market: Path = typer.Option(Path("artifacts/demo/market"), "--market", help="market folder"),
    ranker: Path | None = typer.Option(None, "--ranker", help="folder from `recsys ranker train`"),
    encoder: str | None = typer.Option(None, "--encoder", help="'base' or an encoder folder"),
) -> None:
    """Rank the market's jobs for a title and place (or a stored seeker) and explain them."""
    from recsys.core.folder import MarketFolder
    from recsys.core.profiles import profile_request
    from recsys.offline.market_service import MarketService, market_now

    if (title is None) == (user is None):
        raise typer.BadParameter("give either --title (cold start) or --user")
    if remote not in REMOTE_MODES:
        raise typer.BadParameter(", ".join(REMOTE_MODES), param_hint="--remote")
    if not MarketFolder(market).exists():
        raise typer.BadParameter(
            f"no market at {market}; run `recsys simulate --out {market}`", param_hint="--market"
        )
    with console.status("loading the catalog and models"):
        service = MarketService.open(market, encoder, ranker)
    if user is not None:
        ctx = service.seeker_request(user, k)
    else:
        ctx = profile_request(
            title or "",
            location,
            [s.strip() for s in skills.split(",") if s.strip()],
            k=k,
            radius_km=radius_km,
            remote=remote,
            now=market_now(service.market),
        )
    rec = service.recommender
    result = rec.recommend(ctx)
    jobs = rec.catalog.jobs
    rows = []
    for rank, (row, why) in enumerate(zip(result.items.rows.tolist(), result.reasons), start=1):
        job = jobs.iloc[row]
        place = "remote" if job["remote"] else f"{job['city']}, {job['state']}"
        rows.append(
            [
                rank,
                job["job_id"],
                job["title"],
                job["company"],
                place,
                float(result.items.scores["fine"][rank - 1]),
                "; ".join(why),
            ]
        )
    who = (
        f"user {user}"
        if user
        else f"{ctx.profile.desired_title!r} near {ctx.profile.location or 'anywhere'}"
    )
    console.print(
        table(
            f"top {len(rows)} for {who} ({service.ranker_kind or 'coarse-only'})",
            ["#", "job", "title", "company", "where", "score", "why"],
            rows,
        )
    )
    console.print(
        table(
            "per-stage",
            ["step", "ms", "candidates out"],
            [[name, round(ms, 2), ctx.counts.get(name, "")] for name, ms in ctx.timings_ms.items()],
        )
    )
