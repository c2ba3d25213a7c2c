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
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from compose_file import (
    COMPOSE_FILE,
    DOCKERFILE,
    DOCKERIGNORE,
    NGINX_CONF,
    load_compose,
    load_schema,
    schema_errors,
)
from compose_rules import rule_problems
from dockerfile_rules import dockerfile_problems
from scaleout_rules import balancer_problems, celery_problems, nginx_upstreams

compose = pytest.fixture(scope="module")(load_compose)
schema = pytest.fixture(scope="module")(load_schema)


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


def test_balancer_conf_follows_the_rules(compose) -> None:
    assert balancer_problems(compose["services"]["lb"], NGINX_CONF.read_text()) == []
    assert nginx_upstreams(NGINX_CONF.read_text()) == {
        "api": ["api:8000 resolve max_fails=2 fail_timeout=5s"]
    }


def test_celery_rule_needs_the_provider_in_the_image(compose) -> None:
    text = DOCKERFILE.read_text()
    assert celery_problems(compose["services"], text) == []
    problems = celery_problems(compose["services"], text.replace(".[cpu,celery]", ".[cpu]"))
    assert any("`celery` extra" in p for p in problems), problems


def test_dockerfile_follows_the_rules() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text(), DOCKERIGNORE.read_text()) == []


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
