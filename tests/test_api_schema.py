"""Property-based API tests: Schemathesis generates requests from the app's own OpenAPI spec.

Every operation gets valid and invalid requests (positive and negative generation: examples,
coverage and fuzzing phases). No request may end in a 5xx, and every response must be one the spec
documents (status code, content type, body schema); every error must have the API's error shape.

The app runs in process (ASGI) over a service of its own on the SQLite store, so the postings that
POST /v1/jobs adds and DELETE /v1/jobs expires stay out of the other tests' catalog. Some of the
valid cases that name a posting or a seeker are pointed at a stored one (`Stored`), so that the
success bodies are checked too and not only the 404s that random ids get.

Not checked, on purpose: `positive_data_acceptance` (the API rightly rejects some schema-valid
requests: lat without lon, an unknown job id in an event, a job id already in use) and
`negative_data_rejection` (pydantic's lax mode accepts `0` for a boolean or a timestamp). The
events body, parsed by hand and documented apart (`EventsBody`), gets its own acceptance check.

The schema is loaded eagerly from the spec of an app built without a service (the spec does not
depend on one: `test_the_served_spec_is_the_one_tested`), and each case is sent to the fixture's
app. Schemathesis' lazy `schemathesis.pytest.from_fixture` would fit better, but 4.32 sets
`request.node._nodeid`, which pytest 9 no longer has.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_service import ADMIN_KEY, make_service
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.config import SchemathesisConfig

from api.app import create_app
from recsys.market.market import Market
from recsys.settings import get_settings

#: Fixed, with derandomized Hypothesis, so that a failure replays the same way.
SEED = 20_240_601
MAX_EXAMPLES = 30

SPEC = create_app(get_settings()).openapi()  # no service: nothing loads, no lifespan runs
schema = schemathesis.openapi.from_dict(
    SPEC,
    config=SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True},
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)


@schemathesis.check
def errors_have_the_api_shape(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx/5xx is `{"error": {"status", "message", "details"}}`, with the right status.

    The one exception: POST /v1/events answers 422 with its per-event result when every event
    was rejected.
    """
    if response.status_code < 400:
        return None
    body = response.json()
    per_event = case.operation.label == "POST /v1/events" and response.status_code == 422
    if per_event and isinstance(body, dict) and "rejected" in body:
        return None
    assert isinstance(body, dict) and set(body) == {"error"}, f"not an error body: {body!r}"
    error = body["error"]
    assert error["status"] == response.status_code, f"status {error['status']} in the body"
    assert isinstance(error["message"], str) and error["message"], "no message"
    assert isinstance(error["details"], list), "details is not a list"
    return None


@schemathesis.check
def valid_events_are_taken(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A schema-valid POST /v1/events body is a batch the route takes: no event in it is
    rejected for any reason but an unknown job or user id (which no schema can tell)."""
    if case.operation.label != "POST /v1/events" or not _positive(case):
        return None
    body = response.json()
    assert response.status_code in (200, 422) and "rejected" in body, f"refused: {body!r}"
    problems = [
        problem
        for rejected in body["rejected"]
        for problem in rejected["errors"]
        if not problem.startswith(("job_id: no job with id", "user_id: unknown user"))
    ]
    assert not problems, f"valid events rejected: {problems}"
    return None


def _positive(case: Case) -> bool:
    return case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    errors_have_the_api_shape,
    valid_events_are_taken,
]


class Stored:
    """Points valid cases at the postings and seekers the app stores.

    Random ids name nothing, so without this the valid cases for a posting, a seeker or an event
    would only ever get 404s and 422s and the success bodies would go unchecked. Only some values
    are replaced (even job ids, odd-length user ids), chosen from the generated value, so that
    Hypothesis still shrinks and replays the case and the unknown-id answers stay covered.
    """

    def __init__(self, market: Market):
        self.job_ids = [int(i) for i in market.jobs["job_id"]]
        self.user_ids = [str(u) for u in market.seekers["user_id"]]

    def aim(self, case: Case) -> None:
        if not _positive(case):
            return
        if "job_id" in case.path_parameters:
            case.path_parameters["job_id"] = self._job(case.path_parameters["job_id"])
        user_id = case.query.get("user_id") if case.query else None
        if isinstance(user_id, str) and len(user_id) % 2 == 1:
            case.query["user_id"] = self.user_ids[len(user_id) % len(self.user_ids)]
        body: Any = case.body
        if case.operation.label == "POST /v1/events":
            events = body.get("events", [body]) if isinstance(body, dict) else body
            for event in events if isinstance(events, list) else []:
                if isinstance(event, dict) and "job_id" in event:
                    event["job_id"] = self._job(event["job_id"])
        if case.operation.label == "POST /v1/jobs" and isinstance(body, dict):
            for posting in body.get("jobs", []):
                if isinstance(posting, dict):
                    _placeable(posting)

    def _job(self, job_id: Any) -> Any:
        if isinstance(job_id, int) and job_id % 2 == 0:
            return self.job_ids[job_id // 2 % len(self.job_ids)]
        return job_id


def _placeable(posting: dict[str, Any]) -> None:
    """A posting the service can add: a free id (an even one is left to the service to pick) and
    a place (one without city/state or lat/lon is marked remote)."""
    job_id = posting.get("job_id")
    if isinstance(job_id, int) and job_id % 2 == 0:
        del posting["job_id"]
    placed = posting.get("city") or posting.get("state")
    located = posting.get("lat") is not None and posting.get("lon") is not None
    if not (placed or located):
        posting["remote"] = True


@pytest.fixture(scope="module")
def api(
    small_market: tuple[Market, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, Stored]]:
    """The app over a service of its own, and the ids it stores."""
    market, _ = small_market
    service = make_service(market, "sqlite", tmp_path_factory.mktemp("api-schema"))
    # the employer side is built on its first request, longer than a case's read timeout
    service.candidates(int(market.jobs["job_id"].iat[0]), k=1, radius_km=None)
    app_settings = get_settings().model_copy(update={"api_admin_key": ADMIN_KEY})
    yield create_app(app_settings, service), Stored(market)
    service.close()


def test_the_served_spec_is_the_one_tested(api: tuple[FastAPI, Stored]) -> None:
    app, _ = api
    with TestClient(app) as client:
        assert client.get("/openapi.json").json() == SPEC


def test_the_events_body_is_generated_from_its_component() -> None:
    body = SPEC["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/EventsBody"}
    assert "EventsBody" in SPEC["components"]["schemas"]
    assert schema["/v1/events"]["POST"].body, "Schemathesis sees no body to generate"


@pytest.mark.slow  # generated cases on every route: most of a minute on 2 cores; CI runs it
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_spec(case: Case, api: tuple[FastAPI, Stored]) -> None:
    app, stored = api
    stored.aim(case)
    # The admin key goes with every request, so the admin routes' validation runs too (the
    # missing and wrong key answers have their own tests in test_api.py).
    headers: dict[str, Any] = {"X-API-Key": ADMIN_KEY}
    case.call_and_validate(app=app, headers=headers, checks=CHECKS)
