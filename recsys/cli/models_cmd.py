"""`recsys models list|promote|rollback`: the registered rankers and encoders, and their aliases."""

from __future__ import annotations

import typer

from recsys.cli.console import console, table

app = typer.Typer(help="Registered models and the champion alias.", no_args_is_help=True)

NAMES = {"ranker": "apply-rate-ranker", "encoder": "title-encoder"}


def _name(model: str) -> str:
    if model not in NAMES:
        raise typer.BadParameter(f"one of {sorted(NAMES)}", param_hint="MODEL")
    return NAMES[model]


@app.command("list")
def list_models() -> None:
    """Every version of both models with its aliases, origin and held-out metrics."""
    from recsys.registry.mlflow_registry import ModelRegistry
    from recsys.settings import get_settings

    registry = ModelRegistry.from_settings(get_settings())
    for short, name in NAMES.items():
        rows = [
            [
                v.version,
                ",".join(v.aliases) or "-",
                v.tags.get("kind", short),
                v.tags.get("retrain_date", ""),
                next(
                    (
                        f"{v.metrics[m]:.4f}"
                        for m in ("heldout_ndcg_at_10", "ndcg_at_10")
                        if m in v.metrics
                    ),
                    "",
                ),
                v.tags.get("decision", ""),
            ]
            for v in registry.versions(name)
        ]
        console.print(
            table(name, ["version", "aliases", "kind", "date", "nDCG@10", "decision"], rows)
        )


@app.command()
def promote(
    model: str = typer.Argument(..., help="ranker or encoder"),
    version: str = typer.Argument(..., help="the version to make champion"),
) -> None:
    """Make a version champion by hand (the previous champion is remembered for rollback)."""
    from recsys.registry.mlflow_registry import CHAMPION, ModelRegistry
    from recsys.settings import get_settings

    name = _name(model)
    registry = ModelRegistry.from_settings(get_settings())
    registry.version(name, version)  # fails clearly on an unknown version
    current = registry.by_alias(name, CHAMPION)
    if current is not None and current.version != version:
        registry.set_version_tag(name, version, "previous_champion", current.version)
    registry.set_alias(name, CHAMPION, version)
    registry.set_version_tag(name, version, "decision", "promoted by hand")
    console.print(f"{name} champion: version {version}")


@app.command()
def rollback(model: str = typer.Argument("ranker", help="ranker or encoder")) -> None:
    """Give the champion alias back to the version that held it before the current one."""
    from recsys.registry.mlflow_registry import CHAMPION, ModelRegistry
    from recsys.settings import get_settings

    name = _name(model)
    registry = ModelRegistry.from_settings(get_settings())
    current = registry.by_alias(name, CHAMPION)
    if current is None:
        console.print(f"[red]{name} has no champion to roll back[/red]")
        raise typer.Exit(1)
    previous = current.tags.get("previous_champion")
    if not previous:
        console.print(f"[red]{name} version {current.version} replaced no earlier champion[/red]")
        raise typer.Exit(1)
    registry.set_alias(name, CHAMPION, previous)
    registry.set_version_tag(name, current.version, "decision", f"rolled back to {previous}")
    console.print(f"{name} champion: version {previous} (was {current.version})")
