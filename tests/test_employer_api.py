"""Employers through the API: keys made by the CLI, their own postings, candidates and events.

One service over the small simulated market (SQLite stores), whose postings are owned by their
company (`employer_id` is the company id, as `recsys.market.publish` writes it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from api_service import ADMIN_KEY, make_service
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from feature_store.events import read_events
from recsys.catalog_db import CatalogStore
from recsys.cli.main import app as cli
from recsys.demo_api import employer_tour
from recsys.market.market import Market
from recsys.service.service import RecommendationService
from recsys.settings import get_settings

#: how long the app trusts a verified key here: a revoked one is refused after this
KEY_CACHE_S = 0.3
NOW = datetime(2026, 12, 2, 9, 0)


@pytest.fixture(scope="module")
def client(
    small_market: tuple[Market, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    market, _ = small_market
    folder = tmp_path_factory.mktemp("employer-api")
    service = make_service(market, "sqlite", folder)
    settings = get_settings().model_copy(
        update={"api_admin_key": ADMIN_KEY, "api_key_cache_s": KEY_CACHE_S}
    )
    with TestClient(create_app(settings, service)) as test_client:
        yield test_client
    service.close()


def service_of(client: TestClient) -> RecommendationService:
    return client.app.state.service  # type: ignore[attr-defined]


def catalog_of(client: TestClient) -> CatalogStore:
    return service_of(client).postings.store


def two_employers(client: TestClient) -> tuple[tuple[str, int], tuple[str, int]]:
    """(employer, one of its open postings) for two different employers."""
    service = service_of(client)
    job_ids = service.catalog.arrays.job_id[:200].tolist()
    owners = catalog_of(client).postings.employers(job_ids)
    first = job_ids[0]
    other = next(j for j in job_ids if owners[j] != owners[first])
    return (str(owners[first]), first), (str(owners[other]), other)


def key_for(client: TestClient, employer: str) -> dict[str, str]:
    return {"X-API-Key": catalog_of(client).keys.create(employer, NOW).key}


def a_posting(**over: Any) -> dict[str, Any]:
    return {"title": "Registered Nurse", "company": "Mercy", "city": "Denver", "state": "CO"} | over


def test_cli_key_works_until_revoked(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    (employer, own), _ = two_employers(client)
    monkeypatch.setenv("RECSYS_DATABASE_URL", catalog_of(client).engine.url.render_as_string())
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(cli, ["keys", "create", "--employer", employer, "--label", "test"])
        assert made.exit_code == 0, made.output
        key = made.output.strip().splitlines()[-1]
        assert key.startswith("rk_") and " " not in key
        listed = runner.invoke(cli, ["keys", "list", "--employer", employer])
        assert listed.exit_code == 0 and key not in listed.output
        key_id = str(catalog_of(client).keys.frame(employer)["key_id"].iat[-1])
        assert key_id in listed.output
        headers = {"X-API-Key": key}
        patched = client.patch(f"/v1/jobs/{own}", json={"employer_rating": 4.5}, headers=headers)
        assert patched.status_code == 200, patched.text
        revoked = runner.invoke(cli, ["keys", "revoke", key_id])
        assert revoked.exit_code == 0 and "revoked" in revoked.output
        assert runner.invoke(cli, ["keys", "revoke", "k-no-such"]).exit_code == 1
    finally:
        get_settings.cache_clear()
    time.sleep(KEY_CACHE_S + 0.1)  # past the in-process cache of verified keys
    refused = client.patch(f"/v1/jobs/{own}", json={"employer_rating": 4.0}, headers=headers)
    assert refused.status_code == 403 and "live key" in refused.json()["error"]["message"]


def test_no_key_is_401_and_a_wrong_key_403(client: TestClient) -> None:
    (_, own), _ = two_employers(client)
    assert client.get(f"/v1/jobs/{own}/candidates").status_code == 401
    assert client.patch(f"/v1/jobs/{own}", json={"salary_min": 1}).status_code == 401
    assert client.delete(f"/v1/jobs/{own}").status_code == 401
    assert client.post("/v1/jobs", json={"jobs": [a_posting()]}).status_code == 401
    wrong = {"X-API-Key": "rk_not-a-key"}
    assert client.get(f"/v1/jobs/{own}/candidates", headers=wrong).status_code == 403


def test_another_employers_posting_is_403(client: TestClient) -> None:
    (employer, _), (_, theirs) = two_employers(client)
    headers = key_for(client, employer)
    for response in (
        client.get(f"/v1/jobs/{theirs}/candidates", headers=headers),
        client.patch(f"/v1/jobs/{theirs}", json={"salary_min": 1}, headers=headers),
        client.delete(f"/v1/jobs/{theirs}", headers=headers),
    ):
        assert response.status_code == 403, response.text
        assert "another employer" in response.json()["error"]["message"]
    assert service_of(client).job(theirs)["open"] is True  # the DELETE changed nothing
    unknown = client.get("/v1/jobs/4242424242/candidates", headers=headers)
    assert unknown.status_code == 404


def test_employer_posts_changes_and_closes_its_own_postings(client: TestClient) -> None:
    (employer, _), (other, _) = two_employers(client)
    headers = key_for(client, employer)
    added = client.post("/v1/jobs", json={"jobs": [a_posting()]}, headers=headers)
    assert added.status_code == 201, added.text
    (job_id,) = added.json()["job_ids"]
    assert catalog_of(client).postings.employers([job_id]) == {job_id: employer}
    named = client.post(
        "/v1/jobs", json={"jobs": [a_posting(employer_id=employer)]}, headers=headers
    )
    assert named.status_code == 201
    foreign = client.post(
        "/v1/jobs", json={"jobs": [a_posting(employer_id=other)]}, headers=headers
    )
    assert foreign.status_code == 403 and other in foreign.json()["error"]["message"]
    handover = client.patch(f"/v1/jobs/{job_id}", json={"employer_id": other}, headers=headers)
    assert handover.status_code == 403
    changed = client.patch(f"/v1/jobs/{job_id}", json={"salary_min": 60_000}, headers=headers)
    assert changed.status_code == 200 and changed.json()["salary_min"] == 60_000
    assert client.delete(f"/v1/jobs/{job_id}", headers=headers).status_code == 200
    assert service_of(client).job(job_id)["open"] is False
    admin = {"X-API-Key": ADMIN_KEY}  # the admin still touches any posting
    assert (
        client.patch(f"/v1/jobs/{job_id}", json={"salary_min": 1}, headers=admin).status_code == 200
    )


def test_candidates_of_an_own_posting(client: TestClient) -> None:
    (employer, own), _ = two_employers(client)
    headers = key_for(client, employer)
    r = client.get(f"/v1/jobs/{own}/candidates", params={"k": 5, "debug": 1}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["job_id"] == own and 0 < len(body["items"]) <= 5
    assert body["debug"]["timings_ms"] and body["debug"]["counts"]
    users = [item["user_id"] for item in body["items"]]
    assert len(set(users)) == len(users)
    seekers = catalog_of(client).seekers.frame().set_index("user_id")
    assert seekers.loc[users, "discoverable"].all()
    for item in body["items"]:
        assert item["reasons"] and isinstance(item["skills_matched"], list)
    near = client.get(
        f"/v1/jobs/{own}/candidates", params={"k": 5, "radius_km": 25}, headers=headers
    )
    assert near.status_code == 200 and near.json()["debug"] is None
    for item in near.json()["items"]:
        far = item["distance_km"] is not None and item["distance_km"] > 25 + 1e-6
        assert not far or seekers.loc[item["user_id"], "relocate"]
    for bad in ({"k": 0}, {"k": 101}, {"radius_km": 0}):
        assert (
            client.get(f"/v1/jobs/{own}/candidates", params=bad, headers=headers).status_code == 422
        )


def test_hidden_seeker_is_never_a_candidate(client: TestClient) -> None:
    (employer, own), _ = two_employers(client)
    headers = key_for(client, employer)
    first = client.get(f"/v1/jobs/{own}/candidates", params={"k": 3}, headers=headers).json()
    hidden = first["items"][0]["user_id"]
    admin = {"X-API-Key": ADMIN_KEY}
    stored = client.get(f"/v1/users/{hidden}", headers=admin).json()
    profile = {k: stored[k] for k in ("title", "skills", "location", "lat", "lon")}
    put = client.put(f"/v1/users/{hidden}", json=profile | {"discoverable": False}, headers=admin)
    assert put.status_code == 200, put.text
    again = client.get(f"/v1/jobs/{own}/candidates", params={"k": 100}, headers=headers)
    assert hidden not in {item["user_id"] for item in again.json()["items"]}
    # an opt-out written by another process (straight into the database) counts at once too
    other = again.json()["items"][0]["user_id"]
    row = catalog_of(client).seekers.get(other)
    assert row is not None
    catalog_of(client).seekers.put(other, row | {"discoverable": False}, datetime(2026, 1, 1))
    third = client.get(f"/v1/jobs/{own}/candidates", params={"k": 100}, headers=headers)
    assert other not in {item["user_id"] for item in third.json()["items"]}


def test_users_api_carries_discoverable_and_relocation(client: TestClient) -> None:
    admin = {"X-API-Key": ADMIN_KEY}
    base = {"title": "Line Cook", "location": "Austin, TX"}
    assert client.put("/v1/users/flags-default", json=base, headers=admin).status_code == 201
    default = client.get("/v1/users/flags-default", headers=admin).json()
    assert default["discoverable"] is True and default["relocate"] is False
    hidden = base | {"discoverable": False, "willing_to_relocate": True}
    assert client.put("/v1/users/flags-set", json=hidden, headers=admin).status_code == 201
    stored = client.get("/v1/users/flags-set", headers=admin).json()
    assert stored["discoverable"] is False and stored["relocate"] is True
    assert catalog_of(client).seekers.get("flags-set")["discoverable"] is False  # type: ignore[index]
    employer_key = key_for(client, "e-users")
    assert client.get("/v1/users/flags-set", headers=employer_key).status_code == 403


def test_employer_events_need_the_owners_key(client: TestClient) -> None:
    (employer, own), (_, theirs) = two_employers(client)
    service = service_of(client)
    seeker = str(catalog_of(client).seekers.frame()["user_id"].iat[7])
    before = service.store.seeker_history(seeker)

    def event(n: int, job_id: int, kind: str) -> dict[str, Any]:
        return {"event_id": f"emp-{n}", "type": kind, "user_id": seeker, "job_id": job_id}

    batch = [event(1, own, "shortlist"), event(2, theirs, "contact"), event(3, own, "click")]
    anonymous = client.post("/v1/events", json=batch)
    assert anonymous.status_code == 200  # the seeker's click is kept
    body = anonymous.json()
    assert body["accepted"] == 1 and [r["index"] for r in body["rejected"]] == [0, 1]
    assert "employer key" in body["rejected"][0]["errors"][0]
    keyed = client.post(
        "/v1/events",
        json=[
            event(4, own, "shortlist"),
            event(5, theirs, "contact"),
            event(6, own, "candidate_view"),
        ],
        headers=key_for(client, employer),
    )
    assert keyed.status_code == 200
    assert keyed.json()["accepted"] == 2
    assert [(r["index"], r["event_id"]) for r in keyed.json()["rejected"]] == [(1, "emp-5")]
    assert "another employer" in keyed.json()["rejected"][0]["errors"][0]
    bad_key = client.post("/v1/events", json=[event(7, own, "click")], headers={"X-API-Key": "x"})
    assert bad_key.status_code == 403
    after = service.store.seeker_history(seeker)  # only the click counts as the seeker's
    assert after.n_clicks == before.n_clicks + 1 and after.n_applies == before.n_applies
    service.drain()
    logged = read_events(service.events.events_root)
    mine = logged[logged["event_id"].str.startswith("emp-")]
    assert sorted(mine["type"]) == ["candidate_view", "click", "shortlist"]


@pytest.mark.slow  # runs the real `recsys keys create` in a child process
def test_demo_employer_tour(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's employer step, against this service: candidates with reasons, then a 403."""
    service = service_of(client)
    job_ids = service.catalog.arrays.job_id[:50].tolist()
    url = str(catalog_of(client).engine.url.render_as_string(hide_password=False))
    assert employer_tour(client, job_ids, url)
    out = capsys.readouterr().out
    assert "/candidates" in out and "-> 403" in out and "without a key -> 401" in out
