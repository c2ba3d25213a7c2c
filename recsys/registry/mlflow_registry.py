"""MLflow tracking and the model registry behind one small class.

Models are logged as plain artifact folders (the ranker's native file and `ranker.json`, the
encoder folder with its ONNX graph) and registered from there: no pyfunc wrapper, so logging
takes a second instead of the 5-16 s of inferring requirements, and loading goes through the
same `load_ranker` / `TitleEncoder.load` as everywhere else. Aliases `champion` and `challenger`
say which version serves and which is waiting.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

log = logging.getLogger(__name__)

RANKER_MODEL = "apply-rate-ranker"
ENCODER_MODEL = "title-encoder"
CHAMPION, CHALLENGER = "champion", "challenger"
#: the artifact folder of a run that holds the model
MODEL_PATH = "model"


class RegistryLocation(Protocol):
    """Where the registry lives, as the settings say (`recsys.settings.Settings` has these)."""

    @property
    def mlflow_uri(self) -> str | None: ...

    @property
    def artifacts_dir(self) -> Path: ...

    @property
    def tracking_uri(self) -> str: ...

    @property
    def mlflow_artifacts(self) -> Path: ...


class RegistryUnavailableError(ConnectionError):
    """The tracking server (or its database) cannot be reached."""


@dataclass(frozen=True)
class Version:
    """A registered model version, with what the registry knows of it."""

    name: str
    version: str
    run_id: str
    source: str
    aliases: tuple[str, ...]
    tags: Mapping[str, str]
    metrics: Mapping[str, float]

    @property
    def label(self) -> str:
        kind = self.tags.get("kind", "")
        return f"{self.name}/{self.version}" + (f" ({kind})" if kind else "")


class ModelRegistry:
    """Runs, versions and aliases in one MLflow tracking store."""

    def __init__(self, tracking_uri: str, artifact_root: Path):
        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @classmethod
    def from_settings(cls, settings: RegistryLocation) -> ModelRegistry:
        """The registry the settings name; the embedded one's folder is created if needed."""
        if settings.mlflow_uri is None:
            settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.tracking_uri, settings.mlflow_artifacts)

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = None
        if not self.tracking_uri.startswith(("http://", "https://", "databricks")):
            location = (self.artifact_root / name).resolve().as_uri()
        return str(self.client.create_experiment(name, artifact_location=location))

    def log_run(
        self,
        experiment: str,
        run_name: str,
        *,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        artifacts: Mapping[str, Path],
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """One finished run: params, metrics, and each folder or file of `artifacts` under its
        key. Returns the run id."""
        run = self.client.create_run(
            self._experiment(experiment), run_name=run_name, tags=dict(tags or {})
        )
        run_id = run.info.run_id
        try:
            for key, value in params.items():
                self.client.log_param(run_id, key, str(value)[:6000])
            for key, number in metrics.items():
                if number == number:  # MLflow refuses NaN in some stores; skip it
                    self.client.log_metric(run_id, key.replace("@", "_at_"), float(number))
            for key, path in artifacts.items():
                path = Path(path)
                if path.is_dir():
                    self.client.log_artifacts(run_id, str(path), artifact_path=key)
                else:
                    self.client.log_artifact(run_id, str(path), artifact_path=key)
        except Exception:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id)
        return str(run_id)

    def find_run(self, experiment: str, tags: Mapping[str, str]) -> str | None:
        """The newest finished run of `experiment` carrying all `tags`, or None; lets a retried
        step reuse its run instead of logging a duplicate."""
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            return None
        query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
        runs = self.client.search_runs(
            [found.experiment_id],
            filter_string=f"{query} and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return str(runs[0].info.run_id) if runs else None

    def register(self, name: str, run_id: str, tags: Mapping[str, str] | None = None) -> Version:
        """Register the run's `model` folder as a new version of `name`."""
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)
        run = self.client.get_run(run_id)
        source = f"{run.info.artifact_uri}/{MODEL_PATH}"
        mv = self.client.create_model_version(name, source, run_id, tags=dict(tags or {}))
        return self.version(name, str(mv.version))

    def version(self, name: str, version: str) -> Version:
        mv = self.client.get_model_version(name, version)
        metrics: dict[str, float] = {}
        if mv.run_id:
            metrics = dict(self.client.get_run(mv.run_id).data.metrics)
        return Version(
            name=name,
            version=str(mv.version),
            run_id=str(mv.run_id or ""),
            source=str(mv.source),
            aliases=tuple(getattr(mv, "aliases", []) or []),
            tags=dict(mv.tags or {}),
            metrics=metrics,
        )

    def by_alias(self, name: str, alias: str) -> Version | None:
        """The version holding `alias`, or None (no such model or alias).

        Raises RegistryUnavailableError when the store cannot be reached, so a caller can tell
        "no champion" from "cannot ask".
        """
        try:
            mv = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if _is_missing(exc):
                return None
            raise RegistryUnavailableError(f"model registry at {self.tracking_uri}: {exc}") from exc
        except Exception as exc:  # connection errors of the REST client
            raise RegistryUnavailableError(f"model registry at {self.tracking_uri}: {exc}") from exc
        return self.version(name, str(mv.version))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        try:
            self.client.delete_registered_model_alias(name, alias)
        except MlflowException as exc:
            if not _is_missing(exc):
                raise

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.client.set_model_version_tag(name, version, key, value)

    def versions(self, name: str) -> list[Version]:
        """Every version of `name`, newest first (empty when it was never registered)."""
        try:
            found = self.client.search_model_versions(f"name = '{name}'")
        except MlflowException as exc:
            if _is_missing(exc):
                return []
            raise
        ordered = sorted(found, key=lambda mv: int(mv.version), reverse=True)
        return [self.version(name, str(mv.version)) for mv in ordered]

    def download(self, version: Version, dest: Path | None = None) -> Path:
        """A local folder with the version's model files."""
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=version.source,
            dst_path=None if dest is None else str(dest),
            tracking_uri=self.tracking_uri,
        )
        return Path(path)

    def download_run_artifact(self, version: Version, path: str) -> Path | None:
        """A local copy of what the version's run logged under `path` beside its model (the
        encoder's job index), or None when the run logged nothing there."""
        if not version.run_id:
            return None
        if path not in {a.path for a in self.client.list_artifacts(version.run_id)}:
            return None
        local = mlflow.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path=path, tracking_uri=self.tracking_uri
        )
        return Path(local)


def _is_missing(exc: MlflowException) -> bool:
    code = str(getattr(exc, "error_code", ""))
    return code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
