"""Scale-out rules: at least two API replicas that publish no port of their own, behind an nginx
balancer whose upstream names the api service and re-resolves it in Docker's DNS; Airflow on
the CeleryExecutor with a Redis broker and at least two workers, its provider in the image; the
Dask scheduler and workers the trainers reach."""

from __future__ import annotations

import re
from typing import Any

from compose_file import (
    AIRFLOW_SERVICES,
    DOCKER_DNS,
    MIN_REPLICAS,
    REQUIRED_VAR,
    replica_count,
    service_command,
    service_env,
    service_mounts,
)


def replica_problems(services: dict[str, Any]) -> list[str]:
    """N API replicas that only the balancer reaches, sharing one catalog and one Redis."""
    api = services["api"]
    problems = []
    if replica_count(api) < MIN_REPLICAS:
        problems.append(f"api: {replica_count(api)} replica(s); serving needs >= {MIN_REPLICAS}")
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


def balancer_problems(lb: dict[str, Any], conf: str) -> list[str]:
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
        for _, src, target in service_mounts(lb)
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


def celery_problems(services: dict[str, Any], dockerfile: str) -> list[str]:
    """Airflow on the CeleryExecutor: Redis broker, PostgreSQL results, >= 2 workers."""
    problems = []
    envs = {name: service_env(services[name]) for name in sorted(AIRFLOW_SERVICES)}
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
    if service_command(worker)[-2:] != ["celery", "worker"]:
        problems.append(
            f"airflow-worker: command {service_command(worker)} is not `airflow celery worker`"
        )
    if replica_count(worker) < MIN_REPLICAS:
        problems.append(f"airflow-worker: {replica_count(worker)} celery worker(s), need >= 2")
    installs = re.findall(r"pip install \"?\.\[([^\]\"]*)\]", dockerfile)
    if not any("celery" in extras.split(",") for extras in installs):
        problems.append("the image does not install the `celery` extra (the Celery provider)")
    return problems


def dask_problems(services: dict[str, Any]) -> list[str]:
    """The Airflow workers train on the Dask cluster of this file."""
    problems = []
    address = "tcp://dask-scheduler:8786"
    if address not in service_command(services["dask-worker"]):
        problems.append(f"dask-worker: does not join {address}")
    for name in sorted(AIRFLOW_SERVICES):
        scheduler = service_env(services[name]).get("RECSYS_DASK_SCHEDULER")
        if scheduler != address:
            problems.append(f"{name}: RECSYS_DASK_SCHEDULER is {scheduler!r}, not {address}")
    return problems
