"""Request and response bodies: the API's contract, and what the OpenAPI spec is generated from.

Limits (k, lists, string lengths) are part of the schema so a generated client knows them and a
request past them gets a 422 that names the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from feature_store.events import EventType
from recsys.core.context import RemoteMode

#: the remote modes a search accepts, as listed once in `recsys.core.context`
Remote = RemoteMode
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class ErrorBody(BaseModel):
    """Every error: what went wrong and what to do about it."""

    status: int
    message: str
    details: list[dict[str, object]] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody


class Item(BaseModel):
    job_id: int
    title: str
    company: str
    location: str = Field(description='"City, ST", or "Remote"')
    remote: bool
    score: float = Field(description="the ranker's predicted apply score (coarse score if none)")
    reasons: list[str]


class Debug(BaseModel):
    timings_ms: dict[str, float] = Field(description="per pipeline step, and the total")
    candidates: dict[str, int] = Field(description="candidates left after each stage")
    cached: bool
    degraded: list[str] = Field(
        default_factory=list,
        description="servers this answer was made without (e.g. redis: no personal history, "
        "last popularity snapshot)",
    )


class RecommendationResponse(BaseModel):
    request_id: str
    items: list[Item]
    model_versions: dict[str, str]
    debug: Debug | None = None


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text = Field(description="the job title the seeker is after", examples=["Data Engineer"])
    skills: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=100, examples=[["Python", "SQL"]]
    )
    location: str | None = Field(
        None, max_length=200, description='free text, e.g. "Austin, TX"', examples=["Austin, TX"]
    )
    seniority: int | None = Field(
        None, ge=0, le=5, description="0 internship ... 5 executive (LinkedIn's levels)"
    )
    wants_remote: bool = False


SENIORITY_RANGE_DOC = (
    "jobs whose level (job zone: O*NET preparation, 1 little ... 5 extensive) lies in "
    "[min_seniority, max_seniority]; a hard filter inside the search"
)


class RecommendationRequest(BaseModel):
    """A cold start: the profile travels with the request (a user id adds their history)."""

    model_config = ConfigDict(extra="forbid")

    profile: ProfileIn
    user_id: Id | None = None
    k: int = Field(20, ge=1, le=100)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    radius_km: float | None = Field(None, gt=0, le=20_000)
    remote: Remote = "acceptable"
    min_seniority: int = Field(1, ge=1, le=5, description=SENIORITY_RANGE_DOC)
    max_seniority: int = Field(5, ge=1, le=5, description=SENIORITY_RANGE_DOC)
    debug: bool = False

    @model_validator(mode="after")
    def _seniority_range(self) -> RecommendationRequest:
        if self.min_seniority > self.max_seniority:
            raise ValueError(
                f"min_seniority {self.min_seniority} > max_seniority {self.max_seniority}"
            )
        return self


class EventIn(BaseModel):
    """One seeker event (impression, click, apply) or employer event (candidate_impression,
    candidate_view, shortlist, contact: `user_id` is the seeker, `job_id` the employer's own
    posting, and the request needs that employer's key). `event_id` makes retries safe: it is
    counted once."""

    model_config = ConfigDict(extra="forbid")

    event_id: Id
    type: EventType
    user_id: Id
    job_id: int = Field(ge=0, le=2**62)  # as a posting's id; larger ones overflow int64
    ts: datetime | None = Field(None, description="when it happened (default: now)")
    request_id: Annotated[str, Field(max_length=128)] | None = None
    position: int | None = Field(None, ge=-1, le=10_000, description="0-based slot in the list")


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=1_000)


class RejectedEvent(BaseModel):
    index: int = Field(description="position of the event in the batch")
    event_id: str | None
    errors: list[str]


class EventsResult(BaseModel):
    accepted: int = Field(description="new events, now in the log")
    duplicates: int = Field(description="event ids seen before, ignored")
    rejected: list[RejectedEvent]


class JobIn(BaseModel):
    """A posting to add. Give city/state, or lat/lon, or mark it remote."""

    model_config = ConfigDict(extra="forbid")

    job_id: int | None = Field(
        None, ge=1, le=2**62, description="default: the board id when numeric, else a hash of it"
    )
    external_id: str | None = Field(
        None, min_length=1, max_length=200, description="the board's own id (default: job_id)"
    )
    employer_id: str | None = Field(None, max_length=200, description="the owning employer")
    title: Text
    company: Text
    city: str | None = Field(None, max_length=100)
    state: str | None = Field(None, max_length=100)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    remote: bool = False
    seniority: int = Field(1, ge=0, le=5)
    job_zone: int | None = Field(None, ge=1, le=5, description="default: the coded occupation's")
    skills: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=100
    )
    salary_min: float | None = Field(None, ge=0, le=10_000_000)
    salary_max: float | None = Field(None, ge=0, le=10_000_000)
    employer_rating: float | None = Field(None, ge=0, le=5)
    expires_at: datetime | None = None


class JobPatch(BaseModel):
    """Fields of a posting to change; the others keep their values. A new city or state is
    placed again by the gazetteer unless lat/lon come with it."""

    model_config = ConfigDict(extra="forbid")

    title: Text | None = None
    company: Text | None = None
    employer_id: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    state: str | None = Field(None, max_length=100)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    remote: bool | None = None
    seniority: int | None = Field(None, ge=0, le=5)
    job_zone: int | None = Field(None, ge=1, le=5)
    skills: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, max_length=100
    )
    salary_min: float | None = Field(None, ge=0, le=10_000_000)
    salary_max: float | None = Field(None, ge=0, le=10_000_000)
    employer_rating: float | None = Field(None, ge=0, le=5)
    expires_at: datetime | None = None
    status: Literal["open", "closed"] | None = None


class UserIn(BaseModel):
    """A seeker's stored profile."""

    model_config = ConfigDict(extra="forbid")

    title: Text = Field(description="the job title the seeker is after", examples=["Cashier"])
    skills: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=100
    )
    location: str | None = Field(None, max_length=200, examples=["Garden City, NY"])
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    seniority: int | None = Field(None, ge=0, le=5)
    expected_salary: float | None = Field(None, ge=0, le=10_000_000)
    wants_remote: bool = False
    relocate: bool = Field(
        False,
        validation_alias=AliasChoices("relocate", "willing_to_relocate"),
        description="willing to relocate: searched anywhere, and a candidate for far postings "
        "(`willing_to_relocate` is accepted as its name too)",
    )
    discoverable: bool = Field(
        True, description="whether employers may find this seeker (false: never a candidate)"
    )


class User(UserIn):
    user_id: str
    created_at: datetime
    updated_at: datetime


class UserStored(BaseModel):
    user_id: str
    created: bool


class UserDeleted(BaseModel):
    user_id: str
    deleted: bool = Field(description="false when no profile was stored (history is gone too)")


class JobsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[JobIn] = Field(min_length=1, max_length=1_000)


class JobsAdded(BaseModel):
    job_ids: list[int]


class Job(BaseModel):
    job_id: int
    title: str
    company: str
    city: str
    state: str
    lat: float
    lon: float
    remote: bool
    seniority: int
    occupation: str = Field(description="O*NET-SOC code the title was coded to")
    skills: list[str]
    salary_min: float | None
    salary_max: float | None
    posted_at: str
    expires_at: str
    open: bool


class SimilarJobs(BaseModel):
    job_id: int
    items: list[Item]


class Expired(BaseModel):
    job_id: int
    expires_at: str


class Health(BaseModel):
    status: str
    detail: str = ""


class Candidate(BaseModel):
    """One seeker ranked for a posting, with why."""

    user_id: str
    score: float = Field(description="the fit model's score (the rule score if no model)")
    distance_km: float | None = Field(description="to the posting; null for a remote one")
    reasons: list[str]
    skills_matched: list[str]
    skills_missing: list[str]
    seniority: str | None = Field(description="the seeker's level, when known")
    last_active_days: float | None = Field(description="days since the seeker's last event")


class CandidatesDebug(BaseModel):
    timings_ms: dict[str, float] = Field(description="per stage, and the total")
    counts: dict[str, int] = Field(description="seekers left after each stage")


class CandidatesResponse(BaseModel):
    job_id: int
    items: list[Candidate]
    model_version: str
    debug: CandidatesDebug | None = None
