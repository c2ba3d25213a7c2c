"""`recsys` entry point: registers the sub-command groups; each lives in its own module."""

from __future__ import annotations

import typer

from recsys.cli import (
    catalog_cmd,
    data_cmd,
    db_cmd,
    encoder_cmd,
    evaluate_cmd,
    experiments_cmd,
    index_cmd,
    keys_cmd,
    models_cmd,
    ranker_cmd,
    recommend_cmd,
    retrain_cmd,
    serve_cmd,
    simulate_cmd,
)

app = typer.Typer(help="recsys: job recommendations with reasons.", no_args_is_help=True)
app.add_typer(catalog_cmd.app, name="catalog")
app.add_typer(data_cmd.app, name="data")
app.add_typer(db_cmd.app, name="db")
app.add_typer(encoder_cmd.app, name="encoder")
app.add_typer(evaluate_cmd.app, name="evaluate")
app.add_typer(experiments_cmd.app, name="experiments")
app.add_typer(index_cmd.app, name="index")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(models_cmd.app, name="models")
app.add_typer(ranker_cmd.app, name="ranker")
app.add_typer(catalog_cmd.users_app, name="users")
app.command("recommend")(recommend_cmd.recommend)
app.command("retrain")(retrain_cmd.retrain)
app.command("serve")(serve_cmd.serve)
app.command("simulate")(simulate_cmd.simulate)


if __name__ == "__main__":
    app()
