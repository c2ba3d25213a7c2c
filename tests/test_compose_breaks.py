"""Each deployment rule catches a broken copy: a mutated compose document, nginx conf or
Dockerfile is expected to give the problem the rule names (the intact files pass in
test_compose.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from compose_file import (
    AIRFLOW_SERVICES,
    DOCKERFILE,
    DOCKERIGNORE,
    NGINX_CONF,
    load_compose,
)
from compose_rules import rule_problems
from dockerfile_rules import dockerfile_problems
from scaleout_rules import balancer_problems

compose = pytest.fixture(scope="module")(load_compose)


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


@pytest.mark.parametrize(("old", "new", "expected"), NGINX_BREAKS.values(), ids=NGINX_BREAKS.keys())
def test_balancer_rules_catch_broken_confs(compose, old: str, new: str, expected: str) -> None:
    conf = NGINX_CONF.read_text()
    assert old in conf
    problems = balancer_problems(compose["services"]["lb"], conf.replace(old, new))
    assert any(expected in p for p in problems), problems


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
