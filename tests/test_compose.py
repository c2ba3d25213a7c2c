"""docker-compose.yml and the Dockerfile, checked with no Docker engine and no network.

Two layers: the Compose Specification's JSON schema (vendored in tests/data, see its README),
then the rules of this deployment that a schema cannot say: every service has a healthcheck
built from tools its image has, every dependency waits for `service_healthy`, the recsys
settings in the environment are real fields of `Settings`, secrets have no defaults, volumes
are declared, images are pinned, and the image runs as a non-root user with a HEALTHCHECK.
Serving replicas: at least two API replicas that publish no port of their own, behind an nginx
balancer whose upstream names the api service and re-resolves it in Docker's DNS, all on one
PostgreSQL catalog and one Redis. Airflow: the CeleryExecutor with a Redis broker, PostgreSQL
metadata and results, at least two workers, and the Celery provider installed in the image.
There is no Docker engine here, so none of this starts a container: these are static checks.
Each rule has a test that breaks a copy of the file and expects the rule to catch it.
When a `docker compose` CLI is on PATH, it also has to accept the file (`config`).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
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


# --- the rules ---------------------------------------------------------------------------------


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
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


def _builds_from_repo(service: dict[str, Any]) -> bool:
    build = service.get("build")
    if build is None:
        return False
    context = build if isinstance(build, str) else build.get("context", ".")
    return Path(ROOT, context).resolve() == ROOT


def _base_image(service: dict[str, Any]) -> str:
    if _builds_from_repo(service):
        return dockerfile_base(DOCKERFILE.read_text())
    return str(service.get("image", ""))


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
    base = _base_image(service)
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
    for key, value in _environment(service).items():
        if (key.startswith("RECSYS_") or is_api) and key not in SETTINGS_ENV:
            problems.append(f"{name}: {key} is not a setting (recsys/settings.py)")
        if SECRET_NAME.search(key) and not REQUIRED_VAR.match(value):
            problems.append(f"{name}: secret {key} must be ${{VAR:?message}}, not {value!r}")
    return problems


def _api_problems(api: dict[str, Any], _: str = "api") -> list[str]:
    problems = []
    env = _environment(api)
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
    targets = {target: kind for kind, _, target in _mounts(api)}
    for key in ("RECSYS_DATA_DIR", "RECSYS_ARTIFACTS_DIR"):
        if env.get(key) not in targets:
            problems.append(f"api: {key}={env.get(key)!r} is not a mounted folder")
    if targets.get(env.get("RECSYS_ARTIFACTS_DIR", "")) != "volume":
        problems.append("api: the artifacts folder must be a named volume")
    command = api.get("command")
    command = command.split() if isinstance(command, str) else command
    if command != ["recsys", "serve", "--host", "0.0.0.0", "--store", "redis"]:
        problems.append(f"api: command {command!r} is not `recsys serve ... --store redis`")
    if not _builds_from_repo(api):
        problems.append("api: must be built from the repository's Dockerfile")
    return problems


def _airflow_problems(airflow: dict[str, Any], name: str) -> list[str]:
    env = _environment(airflow)
    dags = env.get("AIRFLOW__CORE__DAGS_FOLDER")
    mounted = any(
        src.rstrip("/").endswith("pipelines/dags") and target == dags
        for _, src, target in _mounts(airflow)
    )
    return [] if mounted else [f"{name}: pipelines/dags is not mounted on its DAGs folder"]


def _mlflow_problems(mlflow: dict[str, Any], _: str = "mlflow") -> list[str]:
    problems = []
    uri = _environment(mlflow).get("MLFLOW_BACKEND_STORE_URI", "")
    command = " ".join(mlflow.get("command") or [])
    if not (uri.startswith("postgresql") or "--backend-store-uri postgresql" in command):
        problems.append("mlflow: the backend store must be PostgreSQL")
    match = re.search(r"--artifacts-destination (\S+)", command)
    volumes = {target for kind, _, target in _mounts(mlflow) if kind == "volume"}
    if not match or match.group(1) not in volumes:
        problems.append("mlflow: --artifacts-destination must be a named volume")
    if not re.search(r":v?3\.\d+", str(mlflow.get("image", ""))):
        problems.append("mlflow: expected an MLflow 3.x image")
    return problems


def _database_problems(services: dict[str, Any]) -> list[str]:
    """MLflow and Airflow: one PostgreSQL server, a database each, both of which exist."""
    postgres = _environment(services["postgres"])
    initdb = " ".join(p.read_text() for p in (ROOT / "docker/postgres/initdb").glob("*.sql"))
    created = {postgres.get("POSTGRES_DB", "")} | set(
        re.findall(r"CREATE DATABASE (\w+)", initdb, flags=re.IGNORECASE)
    )
    airflow_urls = {
        _environment(services[name]).get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
        for name in sorted(AIRFLOW_SERVICES)
    }
    if len(airflow_urls) > 1:
        return [f"the Airflow components use different metadata databases: {airflow_urls}"]
    urls = {
        "mlflow": _environment(services["mlflow"]).get("MLFLOW_BACKEND_STORE_URI", ""),
        "airflow": airflow_urls.pop(),
        "api": _environment(services["api"]).get("RECSYS_DATABASE_URL", ""),
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
        for kind, source, _ in _mounts(service):
            if kind == "volume" and source:
                used.add(source)
                if source not in declared:
                    problems.append(f"{name}: volume {source!r} is not declared")
            required = source.startswith("./") and source not in OPTIONAL_BIND_SOURCES
            if kind == "bind" and required and not (ROOT / source).exists():
                problems.append(f"{name}: bind source {source} does not exist")
    problems += [f"volume {v!r} is declared but never mounted" for v in sorted(declared - used)]
    return problems


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def _variable_problems(doc: dict[str, Any]) -> list[str]:
    """A secret referenced anywhere in the file must be required, never defaulted."""
    return [
        f"${{{name}{rest}}}: a secret must have no default"
        for text in _strings(doc)
        for name, rest in VAR_REF.findall(text)
        if SECRET_NAME.search(name) and not rest.lstrip(":").startswith("?")
    ]


def _replicas(service: dict[str, Any]) -> int:
    """How many containers compose starts for a service (deploy.replicas, default 1)."""
    value = (service.get("deploy") or {}).get("replicas", 1)
    return int(value) if str(value).isdigit() else 0


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def _replica_problems(services: dict[str, Any]) -> list[str]:
    """N API replicas that only the balancer reaches, sharing one catalog and one Redis."""
    api = services["api"]
    problems = []
    if _replicas(api) < MIN_REPLICAS:
        problems.append(f"api: {_replicas(api)} replica(s); serving needs >= {MIN_REPLICAS}")
    if api.get("ports"):
        problems.append("api: replicas must not publish host ports; clients go through lb")
    if api.get("container_name"):
        problems.append("api: container_name forbids replicas")
    for dep in ("postgres", "redis"):
        if dep not in (api.get("depends_on") or {}):
            problems.append(f"api: replicas share {dep} but do not wait for it")
    return problems


def nginx_upstreams(conf: str) -> dict[str, list[str]]:
    """{upstream name: its `server` lines} of an nginx.conf (comments dropped)."""
    text = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    return {
        name: re.findall(r"^\s*server\s+([^;]+);", body, flags=re.MULTILINE)
        for name, body in re.findall(r"upstream\s+(\w+)\s*\{([^}]*)\}", text)
    }


def _balancer_problems(lb: dict[str, Any], conf: str) -> list[str]:
    """nginx, published, proxying to an upstream of the api service re-resolved in Docker DNS."""
    problems = []
    if not str(lb.get("image", "")).startswith("nginx:"):
        problems.append(f"lb: image {lb.get('image')!r} is not nginx")
    if not lb.get("ports"):
        problems.append("lb: publishes no port; nothing reaches the replicas")
    if "api" not in (lb.get("depends_on") or {}):
        problems.append("lb: does not wait for the api replicas")
    mounted = any(
        src.endswith("docker/nginx/nginx.conf") and target == "/etc/nginx/nginx.conf"
        for _, src, target in _mounts(lb)
    )
    if not mounted:
        problems.append("lb: docker/nginx/nginx.conf is not mounted as /etc/nginx/nginx.conf")
    code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    proxied = set(re.findall(r"proxy_pass\s+https?://(\w+)\s*;", code))
    upstreams = nginx_upstreams(conf)
    if not proxied or not proxied <= set(upstreams):
        problems.append(f"lb: proxy_pass {sorted(proxied)} is not an upstream {sorted(upstreams)}")
    for name in proxied & set(upstreams):
        servers = upstreams[name]
        if not servers or any(not re.match(r"api:8000\b", s) for s in servers):
            problems.append(f"lb: upstream {name} must name the api service (api:8000): {servers}")
        elif any("resolve" not in s.split() for s in servers):
            problems.append(f"lb: upstream {name} resolves api once; add `resolve` to its servers")
    if not re.search(rf"^\s*resolver\s+{re.escape(DOCKER_DNS)}\b", code, flags=re.MULTILINE):
        problems.append(f"lb: no `resolver {DOCKER_DNS}`, so replicas are never re-resolved")
    return problems


def _celery_problems(services: dict[str, Any], dockerfile: str) -> list[str]:
    """Airflow on the CeleryExecutor: Redis broker, PostgreSQL results, >= 2 workers."""
    problems = []
    envs = {name: _environment(services[name]) for name in sorted(AIRFLOW_SERVICES)}
    for name, env in envs.items():
        if env.get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor":
            problems.append(f"{name}: executor {env.get('AIRFLOW__CORE__EXECUTOR')!r}, not Celery")
        broker = env.get("AIRFLOW__CELERY__BROKER_URL", "")
        if not re.fullmatch(r"redis://redis:6379/\d+", broker):
            problems.append(f"{name}: broker {broker!r} is not the redis service")
        backend = env.get("AIRFLOW__CELERY__RESULT_BACKEND", "")
        if not re.fullmatch(r"db\+postgresql(?:\+\w+)?://[^@]+@postgres:5432/airflow", backend):
            problems.append(f"{name}: result backend {backend!r} is not PostgreSQL's airflow")
        if not env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "").startswith(
            "http://airflow-apiserver:8080/"
        ):
            problems.append(f"{name}: the execution API must be the airflow-apiserver service")
    shared = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET")
    for key in shared:
        if len({env.get(key) for env in envs.values()}) != 1 or not REQUIRED_VAR.match(
            next(iter(envs.values())).get(key, "")
        ):
            problems.append(f"every Airflow component needs the same required {key}")
    worker = services["airflow-worker"]
    if _command(worker)[-2:] != ["celery", "worker"]:
        problems.append(
            f"airflow-worker: command {_command(worker)} is not `airflow celery worker`"
        )
    if _replicas(worker) < MIN_REPLICAS:
        problems.append(f"airflow-worker: {_replicas(worker)} celery worker(s), need >= 2")
    installs = re.findall(r"pip install \"?\.\[([^\]\"]*)\]", dockerfile)
    if not any("celery" in extras.split(",") for extras in installs):
        problems.append("the image does not install the `celery` extra (the Celery provider)")
    return problems


def _dask_problems(services: dict[str, Any]) -> list[str]:
    """The Airflow workers train on the Dask cluster of this file."""
    problems = []
    address = "tcp://dask-scheduler:8786"
    if address not in _command(services["dask-worker"]):
        problems.append(f"dask-worker: does not join {address}")
    for name in sorted(AIRFLOW_SERVICES):
        scheduler = _environment(services[name]).get("RECSYS_DASK_SCHEDULER")
        if scheduler != address:
            problems.append(f"{name}: RECSYS_DASK_SCHEDULER is {scheduler!r}, not {address}")
    return problems


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
    checks = {
        "api": _api_problems,
        "mlflow": _mlflow_problems,
        **{name: _airflow_problems for name in AIRFLOW_SERVICES},
    }
    for name, check in checks.items():
        if name in services:
            problems += check(services[name], name)
    if set(services) >= SERVICES:
        problems += _database_problems(services)
        problems += _replica_problems(services)
        problems += _balancer_problems(services["lb"], NGINX_CONF.read_text())
        problems += _celery_problems(services, DOCKERFILE.read_text())
        problems += _dask_problems(services)
    return problems


def dockerfile_base(text: str) -> str:
    froms = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE | re.IGNORECASE)
    return froms[-1] if froms else ""


def dockerfile_problems(text: str, dockerignore: str) -> list[str]:
    lines = [ln.strip() for ln in text.replace("\\\n", " ").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    problems = []
    if dockerfile_base(text) != "python:3.11-slim":
        problems.append(f"base image is {dockerfile_base(text)!r}, expected python:3.11-slim")
    args = dict(re.findall(r"^ARG\s+(\w+)=\"?([^\"\s]+)\"?", text, flags=re.MULTILINE))
    # RUN lines with the ARG defaults filled in.
    runs = [
        re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), ln)
        for ln in lines
        if ln.upper().startswith("RUN ")
    ]
    torch_cpu = re.compile(r"pip install .*--index-url\W+https://download\.pytorch\.org/whl/cpu\b")
    torch_at = next(
        (
            i
            for i, ln in enumerate(runs)
            if torch_cpu.search(ln) and re.search(r"\btorch[=<>~!]", ln)
        ),
        -1,
    )
    project_at = next((i for i, ln in enumerate(runs) if re.search(r"pip install \"?\.", ln)), -1)
    if torch_at < 0:
        problems.append("no pinned torch installed from the PyTorch CPU index")
    if project_at < 0:
        problems.append("the project is not pip-installed")
    elif torch_at > project_at:
        problems.append("torch must be installed before the project")
    make_spec = re.search(r"^TORCH_SPEC \?= (\S+)", MAKEFILE.read_text(), flags=re.MULTILINE)
    if make_spec and args.get("TORCH_SPEC") != make_spec.group(1):
        problems.append(f"TORCH_SPEC {args.get('TORCH_SPEC')!r} != Makefile's {make_spec[1]!r}")
    health = [ln for ln in lines if ln.upper().startswith("HEALTHCHECK")]
    if not health or "/healthz" not in health[-1]:
        problems.append("no HEALTHCHECK on /healthz")
    elif re.search(r"\b(curl|wget)\b", health[-1]):
        problems.append("HEALTHCHECK uses curl/wget, which python:3.11-slim lacks")
    users = [ln.split(None, 1)[1] for ln in lines if ln.upper().startswith("USER ")]
    user = users[-1].split(":")[0] if users else "root"
    if user in ("root", "0"):
        problems.append(f"runs as root (USER {user})")
    cmd = [ln for ln in lines if ln.upper().startswith(("CMD", "ENTRYPOINT"))]
    if not cmd or not re.search(r"recsys\"?,?\s*\"?serve", cmd[-1]):
        problems.append("CMD is not `recsys serve`")
    ignored = [ln.strip() for ln in dockerignore.splitlines()]
    ignored = [ln for ln in ignored if ln and not ln.startswith("#")]
    for source in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)\s+\S+$", text, flags=re.MULTILINE):
        for src in source.split():
            if (
                ignored
                and ignored[0] == "*"
                and f"!{src.rstrip('/')}" not in {i.rstrip("/") for i in ignored}
            ):
                problems.append(f"COPY {src}: excluded by .dockerignore")
    return problems


# --- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return load_schema()


def test_vendored_schema_is_a_draft7_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["title"] == "Compose Specification"


def test_compose_file_matches_the_compose_specification(compose, schema) -> None:
    assert schema_errors(compose, schema) == []


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["services"]["redis"].update(healthchek={}), "services/redis"),
        (
            lambda d: d["services"]["api"]["depends_on"]["redis"].update(condition="healthy"),
            "services/api/depends_on",
        ),
        (lambda d: d["services"]["api"].update(ports="8000:8000"), "services/api/ports"),
        (lambda d: d.update(volume={}), "<root>"),
    ],
    ids=["misspelt-key", "bad-condition", "ports-not-a-list", "unknown-top-level-key"],
)
def test_schema_catches_malformed_files(compose, schema, mutate, where: str) -> None:
    broken = copy.deepcopy(compose)
    mutate(broken)
    errors = schema_errors(broken, schema)
    assert any(e.startswith(where) for e in errors), errors


def test_compose_file_follows_the_deployment_rules(compose) -> None:
    assert rule_problems(compose) == []


def _drop_healthcheck(doc: dict[str, Any]) -> None:
    del doc["services"]["redis"]["healthcheck"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets doc[a][b]...[z] = value for path 'a/b/.../z'."""
    *parents, leaf = path.split("/")

    def mutate(doc: dict[str, Any]) -> None:
        node = doc
        for key in parents:
            node = node[key]
        node[leaf] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    """A mutation that deletes doc[a][b]...[z] for path 'a/b/.../z'."""
    *parents, leaf = path.split("/")

    def mutate(doc: dict[str, Any]) -> None:
        node = doc
        for key in parents:
            node = node[key]
        del node[leaf]

    return mutate


def _set_airflow_env(key: str, value: str) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets one environment variable in every Airflow component (the file
    shares one anchor between them, so a real edit changes them all)."""

    def mutate(doc: dict[str, Any]) -> None:
        for name in AIRFLOW_SERVICES:
            service = doc["services"][name]
            service["environment"] = {**service["environment"], key: value}

    return mutate


def _set_env(service: str, key: str, value: str) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets one variable of one service only: services that merge the same
    YAML anchor share one environment mapping once loaded, so it is copied first."""

    def mutate(doc: dict[str, Any]) -> None:
        target = doc["services"][service]
        target["environment"] = {**target["environment"], key: value}

    return mutate


API_ENV = "services/api/environment"
RULE_BREAKS = {
    "healthcheck-removed": (_drop_healthcheck, "redis: no healthcheck"),
    "healthcheck-disabled": (
        _set("services/mlflow/healthcheck", {"disable": True}),
        "mlflow: healthcheck disabled",
    ),
    "curl-in-python-image": (
        _set("services/api/healthcheck/test", ["CMD", "curl", "-f", "http://127.0.0.1:8000/"]),
        "api: healthcheck runs 'curl'",
    ),
    "started-not-healthy": (
        _set("services/api/depends_on/redis", {"condition": "service_started"}),
        "api: depends_on redis must use condition service_healthy",
    ),
    "depends-on-list": (
        _set("services/airflow-scheduler/depends_on", ["postgres"]),
        "airflow-scheduler: depends_on as a list",
    ),
    "depends-on-unknown": (
        _set("services/api/depends_on/cache", {"condition": "service_healthy"}),
        "api: depends on undefined service 'cache'",
    ),
    "depends-on-cycle": (
        _set("services/redis/depends_on", {"api": {"condition": "service_healthy"}}),
        "depends_on cycle",
    ),
    "misspelt-setting": (
        _set(f"{API_ENV}/RECSYS_REDIS_URI", "redis://redis:6379/0"),
        "api: RECSYS_REDIS_URI is not a setting",
    ),
    "non-setting-in-api": (_set(f"{API_ENV}/DEBUG", "1"), "api: DEBUG is not a setting"),
    "admin-key-default": (
        _set(f"{API_ENV}/RECSYS_API_ADMIN_KEY", "${RECSYS_API_ADMIN_KEY:-change-me}"),
        "secret RECSYS_API_ADMIN_KEY",
    ),
    "store-not-redis": (
        _set(f"{API_ENV}/RECSYS_ONLINE_STORE", "sqlite"),
        "api: RECSYS_ONLINE_STORE",
    ),
    "undeclared-volume": (
        _set("services/redis/volumes", ["redis-cache:/data"]),
        "redis: volume 'redis-cache' is not declared",
    ),
    "unused-volume": (_set("volumes/scratch", None), "volume 'scratch' is declared but never"),
    "latest-tag": (_set("services/redis/image", "redis:latest"), "redis: image 'redis:latest'"),
    "no-tag": (_set("services/postgres/image", "postgres"), "postgres: image 'postgres'"),
    "password-default": (
        _set("services/postgres/environment/POSTGRES_PASSWORD", "${POSTGRES_PASSWORD:-postgres}"),
        "secret POSTGRES_PASSWORD",
    ),
    "dags-not-mounted": (
        _set("services/airflow-worker/volumes", ["airflow-home:/var/lib/airflow"]),
        "airflow-worker: pipelines/dags is not mounted",
    ),
    "mlflow-on-sqlite": (
        _set("services/mlflow/environment/MLFLOW_BACKEND_STORE_URI", "sqlite:///mlflow.db"),
        "mlflow: the backend store must be PostgreSQL",
    ),
    "shared-database": (
        _set_airflow_env(
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            "postgresql+psycopg2://recsys:${POSTGRES_PASSWORD:?x}@postgres:5432/mlflow",
        ),
        "share a database",
    ),
    "database-never-created": (
        _set_airflow_env(
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            "postgresql+psycopg2://recsys:${POSTGRES_PASSWORD:?x}@postgres:5432/scheduler",
        ),
        "database 'scheduler' is never created",
    ),
    "airflow-components-disagree": (
        _set_env(
            "airflow-worker",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            "postgresql+psycopg2://recsys:${POSTGRES_PASSWORD:?x}@postgres:5432/other",
        ),
        "different metadata databases",
    ),
    "catalog-not-on-postgres": (
        _set(f"{API_ENV}/RECSYS_DATABASE_URL", "sqlite:///catalog.sqlite"),
        "api: database URL 'sqlite:///catalog.sqlite' is not on the postgres service",
    ),
    "one-replica": (_set("services/api/deploy", {"replicas": 1}), "api: 1 replica(s)"),
    "replicas-unset": (_set("services/api/deploy", {}), "api: 1 replica(s)"),
    "replica-publishes-port": (
        _set("services/api/ports", ["127.0.0.1:8000:8000"]),
        "api: replicas must not publish host ports",
    ),
    "replicas-without-postgres": (
        _drop("services/api/depends_on/postgres"),
        "api: replicas share postgres but do not wait for it",
    ),
    "balancer-not-nginx": (_set("services/lb/image", "haproxy:3.0"), "lb: image 'haproxy:3.0'"),
    "balancer-unpublished": (_drop("services/lb/ports"), "lb: publishes no port"),
    "balancer-conf-not-mounted": (
        _set("services/lb/volumes", []),
        "lb: docker/nginx/nginx.conf is not mounted",
    ),
    "celery-executor-dropped": (
        _set_airflow_env("AIRFLOW__CORE__EXECUTOR", "LocalExecutor"),
        "executor 'LocalExecutor', not Celery",
    ),
    "broker-not-redis": (
        _set_airflow_env("AIRFLOW__CELERY__BROKER_URL", "amqp://rabbitmq:5672//"),
        "broker 'amqp://rabbitmq:5672//' is not the redis service",
    ),
    "result-backend-not-postgres": (
        _set_airflow_env("AIRFLOW__CELERY__RESULT_BACKEND", "redis://redis:6379/2"),
        "result backend 'redis://redis:6379/2' is not PostgreSQL",
    ),
    "one-celery-worker": (
        _set("services/airflow-worker/deploy", {"replicas": 1}),
        "airflow-worker: 1 celery worker(s)",
    ),
    "worker-not-celery": (
        _set("services/airflow-worker/command", ["airflow", "scheduler"]),
        "airflow-worker: command",
    ),
    "jwt-secret-differs": (
        _set_env("airflow-worker", "AIRFLOW__API_AUTH__JWT_SECRET", "${OTHER_JWT_SECRET:?x}"),
        "the same required AIRFLOW__API_AUTH__JWT_SECRET",
    ),
    "fernet-key-default": (
        _set_airflow_env("AIRFLOW__CORE__FERNET_KEY", "${AIRFLOW_FERNET_KEY:-weak}"),
        "secret AIRFLOW__CORE__FERNET_KEY",
    ),
    "training-not-on-dask": (
        _set_env("airflow-worker", "RECSYS_DASK_SCHEDULER", "tcp://elsewhere:8786"),
        "airflow-worker: RECSYS_DASK_SCHEDULER",
    ),
    "artifacts-not-a-volume": (
        _set(f"{API_ENV}/RECSYS_ARTIFACTS_DIR", "/tmp/artifacts"),
        "api: RECSYS_ARTIFACTS_DIR='/tmp/artifacts' is not a mounted folder",
    ),
    "api-wrong-command": (
        _set("services/api/command", ["recsys", "serve"]),
        "api: command",
    ),
}


@pytest.mark.parametrize(("mutate", "expected"), RULE_BREAKS.values(), ids=RULE_BREAKS.keys())
def test_rules_catch_broken_copies(compose, mutate, expected: str) -> None:
    broken = copy.deepcopy(compose)
    mutate(broken)
    problems = rule_problems(broken)
    assert any(expected in p for p in problems), problems


NGINX_BREAKS = {
    "upstream-names-another-service": (
        "server api:8000 resolve",
        "server web:8000 resolve",
        "must name the api service",
    ),
    "resolved-once": ("server api:8000 resolve", "server api:8000", "add `resolve`"),
    "no-docker-dns": ("resolver 127.0.0.11", "resolver 8.8.8.8", "no `resolver 127.0.0.11`"),
    "proxy-bypasses-upstream": (
        "proxy_pass http://api;",
        "proxy_pass http://backend;",
        "is not an upstream",
    ),
}


def test_balancer_conf_follows_the_rules(compose) -> None:
    assert _balancer_problems(compose["services"]["lb"], NGINX_CONF.read_text()) == []
    assert nginx_upstreams(NGINX_CONF.read_text()) == {
        "api": ["api:8000 resolve max_fails=2 fail_timeout=5s"]
    }


@pytest.mark.parametrize(("old", "new", "expected"), NGINX_BREAKS.values(), ids=NGINX_BREAKS.keys())
def test_balancer_rules_catch_broken_confs(compose, old: str, new: str, expected: str) -> None:
    conf = NGINX_CONF.read_text()
    assert old in conf
    problems = _balancer_problems(compose["services"]["lb"], conf.replace(old, new))
    assert any(expected in p for p in problems), problems


def test_celery_rule_needs_the_provider_in_the_image(compose) -> None:
    text = DOCKERFILE.read_text()
    assert _celery_problems(compose["services"], text) == []
    problems = _celery_problems(compose["services"], text.replace(".[cpu,celery]", ".[cpu]"))
    assert any("`celery` extra" in p for p in problems), problems


def test_dockerfile_follows_the_rules() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text(), DOCKERIGNORE.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("USER 10001:10001", "USER root", "runs as root"),
        ("USER 10001:10001", "", "runs as root"),
        ("HEALTHCHECK", "# HEALTHCHECK", "no HEALTHCHECK"),
        ("/healthz", "/readyz", "no HEALTHCHECK on /healthz"),
        ("FROM python:3.11-slim", "FROM python:3.11", "base image"),
        ('--index-url "${TORCH_INDEX_URL}" ', "", "PyTorch CPU index"),
        ('"${TORCH_SPEC}"', "torch", "PyTorch CPU index"),
        ('TORCH_SPEC="torch==2.13.0"', 'TORCH_SPEC="torch==2.14.0"', "Makefile's"),
        ("COPY api ./api", "COPY api ./api\nCOPY tests ./tests", "COPY tests"),
    ],
    ids=[
        "root",
        "no-user",
        "no-healthcheck",
        "not-healthz",
        "base",
        "torch-index",
        "unpinned-torch",
        "torch-spec-drift",
        "ignored",
    ],
)
def test_dockerfile_rules_catch_broken_copies(old: str, new: str, expected: str) -> None:
    text = DOCKERFILE.read_text()
    assert old in text
    problems = dockerfile_problems(text.replace(old, new), DOCKERIGNORE.read_text())
    assert any(expected in p for p in problems), problems


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=10)
        if probe.returncode == 0:
            return [docker, "compose"]
    return None


def test_docker_compose_cli_accepts_the_file(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no `docker compose` CLI on PATH (the schema and rule tests still ran)")
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")
    base = [*cli, "--env-file", str(empty_env), "-f", str(COMPOSE_FILE), "config", "--quiet"]
    secrets = {"RECSYS_API_ADMIN_KEY": "test-key", "POSTGRES_PASSWORD": "test-password"}
    clean = {k: v for k, v in os.environ.items() if k not in secrets}
    ok = subprocess.run(base, env={**clean, **secrets}, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    unset = subprocess.run(base, env=clean, capture_output=True, text=True, timeout=60)
    assert unset.returncode != 0 and "required variable" in unset.stderr, unset.stderr
