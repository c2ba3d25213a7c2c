"""docker-compose.yml, its Dockerfile and nginx conf as the rule checks read them: paths, the
services this deployment must have, and accessors that accept both of Compose's syntaxes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from recsys.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MAKEFILE = ROOT / "Makefile"
SCHEMA_FILE = Path(__file__).parent / "data" / "compose-spec.json"
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
SERVICES = {
    "api",
    "lb",
    "redis",
    "postgres",
    "mlflow",
    "dask-scheduler",
    "dask-worker",
    *AIRFLOW_SERVICES,
}
NGINX_CONF = ROOT / "docker" / "nginx" / "nginx.conf"
#: Docker's embedded DNS server, which knows every replica of a service by the service's name
DOCKER_DNS = "127.0.0.11"
MIN_REPLICAS = 2
SETTINGS_ENV = {f"RECSYS_{name.upper()}" for name in Settings.model_fields}
#: The executables each image is known to have; a healthcheck may call only these.
#: python:3.11-slim (and so the recsys image) has no curl or wget.
IMAGE_TOOLS = {
    "redis:": {"redis-cli"},
    "postgres:": {"pg_isready", "psql"},
    "ghcr.io/mlflow/mlflow:": {"python", "mlflow"},
    "python:3.11-slim": {"python"},
    "nginx:": {"nginx", "wget"},
}
#: Relative bind sources that may be missing: Docker creates an empty folder for them.
OPTIONAL_BIND_SOURCES = {"./pipelines/dags"}
#: `${NAME:?message}` or `${NAME?message}`: compose refuses to start while NAME is unset.
REQUIRED_VAR = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}$")
VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|TOKEN")


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def schema_errors(doc: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def service_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of each mount, short and long syntax alike."""
    mounts = []
    for item in service.get("volumes") or []:
        if isinstance(item, str):
            source, _, rest = item.partition(":")
            target = rest.split(":")[0] if rest else source
            if not rest:  # an anonymous volume
                mounts.append(("volume", "", target))
                continue
            kind = "bind" if source.startswith((".", "/", "~", "$")) else "volume"
            mounts.append((kind, source, target))
        else:
            mounts.append((item["type"], str(item.get("source", "")), str(item["target"])))
    return mounts


def builds_from_repo(service: dict[str, Any]) -> bool:
    build = service.get("build")
    if build is None:
        return False
    context = build if isinstance(build, str) else build.get("context", ".")
    return Path(ROOT, context).resolve() == ROOT


def base_image(service: dict[str, Any]) -> str:
    if builds_from_repo(service):
        return dockerfile_base(DOCKERFILE.read_text())
    return str(service.get("image", ""))


def all_strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*all_strings(key), *all_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in all_strings(item)]
    return [node] if isinstance(node, str) else []


def replica_count(service: dict[str, Any]) -> int:
    """How many containers compose starts for a service (deploy.replicas, default 1)."""
    value = (service.get("deploy") or {}).get("replicas", 1)
    return int(value) if str(value).isdigit() else 0


def service_command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def dockerfile_base(text: str) -> str:
    froms = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE | re.IGNORECASE)
    return froms[-1] if froms else ""
