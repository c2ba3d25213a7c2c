"""The rules of this deployment that the Compose schema cannot say: healthchecks built from tools
the image has, dependencies that wait for `service_healthy`, recsys settings that are real
fields of `Settings`, secrets without defaults, declared volumes, pinned images. The scale-out
rules (replicas, balancer, Celery, Dask) are in `scaleout_rules`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from compose_file import (
    AIRFLOW_SERVICES,
    DOCKERFILE,
    IMAGE_TOOLS,
    NGINX_CONF,
    OPTIONAL_BIND_SOURCES,
    REQUIRED_VAR,
    ROOT,
    SECRET_NAME,
    SERVICES,
    SETTINGS_ENV,
    VAR_REF,
    all_strings,
    base_image,
    builds_from_repo,
    service_env,
    service_mounts,
)
from scaleout_rules import balancer_problems, celery_problems, dask_problems, replica_problems


def _healthcheck_executable(test: list[str] | str) -> str:
    if isinstance(test, str):
        return test.split()[0] if test.split() else ""
    if test[0] == "CMD-SHELL":
        return test[1].split()[0] if len(test) > 1 and test[1].split() else ""
    return test[1] if len(test) > 1 else ""


def _health_problems(name: str, service: dict[str, Any]) -> list[str]:
    check = service.get("healthcheck")
    if not check:
        return [f"{name}: no healthcheck"]
    test = check.get("test")
    if check.get("disable") in (True, "true") or not test or test == ["NONE"]:
        return [f"{name}: healthcheck disabled or empty"]
    if isinstance(test, list) and test[0] not in ("CMD", "CMD-SHELL"):
        return [f"{name}: healthcheck test must start with CMD or CMD-SHELL, not {test[0]!r}"]
    problems = []
    text = " ".join(test) if isinstance(test, list) else test
    base = base_image(service)
    tools = next((t for prefix, t in IMAGE_TOOLS.items() if base.startswith(prefix)), None)
    executable = _healthcheck_executable(test)
    if tools is None:
        problems.append(f"{name}: image {base!r} unknown; add the tools it has to IMAGE_TOOLS")
    elif executable not in tools:
        problems.append(f"{name}: healthcheck runs {executable!r}, {base!r} has {sorted(tools)}")
    lacking = set(re.findall(r"\b(curl|wget)\b", text)) - (tools or set())
    if lacking:
        problems.append(f"{name}: healthcheck uses {sorted(lacking)}, which {base!r} lacks")
    targets = {
        str(p["target"]) if isinstance(p, dict) else str(p).rsplit(":", 1)[-1].split("/")[0]
        for p in service.get("ports") or []
    }
    if targets and not any(re.search(rf":{t}\b", text) for t in targets):
        problems.append(f"{name}: healthcheck probes none of its ports {sorted(targets)}")
    return problems


def _dependency_problems(name: str, service: dict[str, Any], services: dict) -> list[str]:
    deps = service.get("depends_on")
    if deps is None:
        return []
    if isinstance(deps, list):
        return [f"{name}: depends_on as a list only waits for start; use condition"]
    problems = []
    for dep, spec in deps.items():
        if dep not in services:
            problems.append(f"{name}: depends on undefined service {dep!r}")
        if (spec or {}).get("condition") != "service_healthy":
            problems.append(f"{name}: depends_on {dep} must use condition service_healthy")
    return problems


def _cycle_problems(services: dict[str, Any]) -> list[str]:
    graph = {name: set(s.get("depends_on") or []) & set(services) for name, s in services.items()}
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> str | None:
        if node in path:
            return " -> ".join((*path, node))
        if node in done:
            return None
        for nxt in sorted(graph[node]):
            if found := visit(nxt, (*path, node)):
                return found
        done.add(node)
        return None

    cycle = next((c for n in sorted(graph) if (c := visit(n, ()))), None)
    return [f"depends_on cycle: {cycle}"] if cycle else []


def _env_problems(name: str, service: dict[str, Any], is_api: bool) -> list[str]:
    problems = []
    for key, value in service_env(service).items():
        if (key.startswith("RECSYS_") or is_api) and key not in SETTINGS_ENV:
            problems.append(f"{name}: {key} is not a setting (recsys/settings.py)")
        if SECRET_NAME.search(key) and not REQUIRED_VAR.match(value):
            problems.append(f"{name}: secret {key} must be ${{VAR:?message}}, not {value!r}")
    return problems


def _api_problems(api: dict[str, Any], _: str = "api") -> list[str]:
    problems = []
    env = service_env(api)
    expected = {
        "RECSYS_ONLINE_STORE": "redis",
        "RECSYS_REDIS_URL": "redis://redis:6379/0",
        "RECSYS_MLFLOW_URI": "http://mlflow:5000",
    }
    for key, value in expected.items():
        if env.get(key) != value:
            problems.append(f"api: {key} is {env.get(key)!r}, expected {value!r}")
    if not REQUIRED_VAR.match(env.get("RECSYS_API_ADMIN_KEY", "")):
        problems.append("api: RECSYS_API_ADMIN_KEY must come from a required variable")
    targets = {target: kind for kind, _, target in service_mounts(api)}
    for key in ("RECSYS_DATA_DIR", "RECSYS_ARTIFACTS_DIR"):
        if env.get(key) not in targets:
            problems.append(f"api: {key}={env.get(key)!r} is not a mounted folder")
    if targets.get(env.get("RECSYS_ARTIFACTS_DIR", "")) != "volume":
        problems.append("api: the artifacts folder must be a named volume")
    command = api.get("command")
    command = command.split() if isinstance(command, str) else command
    if command != ["recsys", "serve", "--host", "0.0.0.0", "--store", "redis"]:
        problems.append(f"api: command {command!r} is not `recsys serve ... --store redis`")
    if not builds_from_repo(api):
        problems.append("api: must be built from the repository's Dockerfile")
    return problems


def _airflow_problems(airflow: dict[str, Any], name: str) -> list[str]:
    env = service_env(airflow)
    dags = env.get("AIRFLOW__CORE__DAGS_FOLDER")
    mounted = any(
        src.rstrip("/").endswith("pipelines/dags") and target == dags
        for _, src, target in service_mounts(airflow)
    )
    return [] if mounted else [f"{name}: pipelines/dags is not mounted on its DAGs folder"]


def _mlflow_problems(mlflow: dict[str, Any], _: str = "mlflow") -> list[str]:
    problems = []
    uri = service_env(mlflow).get("MLFLOW_BACKEND_STORE_URI", "")
    command = " ".join(mlflow.get("command") or [])
    if not (uri.startswith("postgresql") or "--backend-store-uri postgresql" in command):
        problems.append("mlflow: the backend store must be PostgreSQL")
    match = re.search(r"--artifacts-destination (\S+)", command)
    volumes = {target for kind, _, target in service_mounts(mlflow) if kind == "volume"}
    if not match or match.group(1) not in volumes:
        problems.append("mlflow: --artifacts-destination must be a named volume")
    if not re.search(r":v?3\.\d+", str(mlflow.get("image", ""))):
        problems.append("mlflow: expected an MLflow 3.x image")
    return problems


def _database_problems(services: dict[str, Any]) -> list[str]:
    """MLflow and Airflow: one PostgreSQL server, a database each, both of which exist."""
    postgres = service_env(services["postgres"])
    initdb = " ".join(p.read_text() for p in (ROOT / "docker/postgres/initdb").glob("*.sql"))
    created = {postgres.get("POSTGRES_DB", "")} | set(
        re.findall(r"CREATE DATABASE (\w+)", initdb, flags=re.IGNORECASE)
    )
    airflow_urls = {
        service_env(services[name]).get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
        for name in sorted(AIRFLOW_SERVICES)
    }
    if len(airflow_urls) > 1:
        return [f"the Airflow components use different metadata databases: {airflow_urls}"]
    urls = {
        "mlflow": service_env(services["mlflow"]).get("MLFLOW_BACKEND_STORE_URI", ""),
        "airflow": airflow_urls.pop(),
        "api": service_env(services["api"]).get("RECSYS_DATABASE_URL", ""),
    }
    problems, databases = [], {}
    for name, url in urls.items():
        match = re.fullmatch(r"postgresql(?:\+\w+)?://[^@]+@postgres:5432/(\w+)", url)
        if not match:
            problems.append(f"{name}: database URL {url!r} is not on the postgres service")
            continue
        databases[name] = match.group(1)
        if match.group(1) not in created:
            problems.append(f"{name}: database {match.group(1)!r} is never created")
    if len(set(databases.values())) < len(databases):
        problems.append(f"mlflow, airflow and the catalog share a database: {databases}")
    return problems


def _image_problems(name: str, service: dict[str, Any]) -> list[str]:
    image = str(service.get("image", ""))
    if not image:
        return [] if service.get("build") else [f"{name}: neither image nor build"]
    if "@sha256:" in image:
        return []
    tag = image.rpartition(":")[2] if ":" in image.split("/")[-1] else ""
    if not tag or tag == "latest" or not re.search(r"\d", tag):
        return [f"{name}: image {image!r} is not pinned to a version tag"]
    return []


def _volume_problems(doc: dict[str, Any]) -> list[str]:
    declared = set(doc.get("volumes") or {})
    used: set[str] = set()
    problems = []
    for name, service in doc["services"].items():
        for kind, source, _ in service_mounts(service):
            if kind == "volume" and source:
                used.add(source)
                if source not in declared:
                    problems.append(f"{name}: volume {source!r} is not declared")
            required = source.startswith("./") and source not in OPTIONAL_BIND_SOURCES
            if kind == "bind" and required and not (ROOT / source).exists():
                problems.append(f"{name}: bind source {source} does not exist")
    problems += [f"volume {v!r} is declared but never mounted" for v in sorted(declared - used)]
    return problems


def _variable_problems(doc: dict[str, Any]) -> list[str]:
    """A secret referenced anywhere in the file must be required, never defaulted."""
    return [
        f"${{{name}{rest}}}: a secret must have no default"
        for text in all_strings(doc)
        for name, rest in VAR_REF.findall(text)
        if SECRET_NAME.search(name) and not rest.lstrip(":").startswith("?")
    ]


def rule_problems(doc: dict[str, Any]) -> list[str]:
    """Everything this deployment requires beyond the schema; empty when all is well."""
    services = doc.get("services") or {}
    problems = [f"missing service {s!r}" for s in sorted(SERVICES - set(services))]
    for name, service in services.items():
        problems += _health_problems(name, service)
        problems += _dependency_problems(name, service, services)
        problems += _env_problems(name, service, is_api=name == "api")
        problems += _image_problems(name, service)
    problems += _cycle_problems(services)
    problems += _volume_problems(doc)
    problems += _variable_problems(doc)
    checks: dict[str, Callable[[dict[str, Any], str], list[str]]] = {
        "api": _api_problems,
        "mlflow": _mlflow_problems,
        **{name: _airflow_problems for name in AIRFLOW_SERVICES},
    }
    for name, check in checks.items():
        if name in services:
            problems += check(services[name], name)
    if set(services) >= SERVICES:
        problems += _database_problems(services)
        problems += replica_problems(services)
        problems += balancer_problems(services["lb"], NGINX_CONF.read_text())
        problems += celery_problems(services, DOCKERFILE.read_text())
        problems += dask_problems(services)
    return problems
