"""One request as every stage sees it, and the one factory that builds it.

`request_context` is the only place that turns a profile into a request: the default search
radius, the remote modes and the rule that a seeker who relocates (or gave no place) gets no
radius live here, so the service, the CLI, the closed loop and the evaluations filter alike.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

import numpy as np

#: seekers who will not relocate search within this radius (remote jobs pass any radius).
LOCAL_RADIUS_KM: Final[float] = 80.0

RemoteMode = Literal["only", "acceptable", "exclude"]
#: the remote modes a search accepts (the values of `RemoteMode`).
REMOTE_MODES: Final[tuple[str, ...]] = get_args(RemoteMode)


@dataclass
class Profile:
    """What we know of the seeker for this request: stated, stored or sent inline."""

    desired_title: str
    skills: list[str] = field(default_factory=list)
    lat: float | None = None
    lon: float | None = None
    location: str = ""
    level: int | None = None
    expected_salary: float | None = None
    wants_remote: bool = False
    relocate: bool = False


@dataclass
class History:
    """The seeker's past behaviour from the online store (empty for a cold start)."""

    applied_job_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    clicked_job_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_applies: int = 0
    n_clicks: int = 0
    n_impressions: int = 0
    days_since_last_activity: float = 365.0
    is_new: bool = True


@dataclass
class Filters:
    """Hard filters the recall stage applies inside the search."""

    radius_km: float | None = None
    remote: str = "acceptable"  # one of REMOTE_MODES
    min_zone: int = 1
    max_zone: int = 5
    #: the radius is the default, not the caller's: recall may widen it when few good matches
    #: are near (location is a preference; an asked-for radius is a hard cut)
    widen_radius: bool = False


@dataclass
class SeekerView:
    """The seeker turned into arrays once per request (the 'profile' step), read by all stages."""

    query: np.ndarray  # L2-normalised query vector
    occupation: int  # inferred taxonomy index of the desired title (-1 unknown)
    skills: np.ndarray  # binary row over the taxonomy skill vocabulary, dense float32
    n_skills: int
    title_words: np.ndarray  # dense 0/1 over the catalog's title vocabulary
    applied_rows: np.ndarray  # catalog rows of jobs applied to (for similarity and exclusion)


@dataclass
class RequestContext:
    """One request as every stage sees it; stages add their timings and counts.

    Build it with `request_context`, which applies the filter defaults."""

    request_id: str
    profile: Profile
    now: np.datetime64
    k: int = 20
    user_id: str | None = None
    history: History = field(default_factory=History)
    #: when a known seeker was first seen (None: never); the service makes `history` from it
    #: and the online store's history, read with the request's other user state
    first_seen: np.datetime64 | None = None
    filters: Filters = field(default_factory=Filters)
    seeker: SeekerView | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def view(self) -> SeekerView:
        if self.seeker is None:
            raise RuntimeError("the profile step has not run: RequestContext.seeker is unset")
        return self.seeker


def check_remote_mode(remote: str) -> str:
    """`remote` when it is one of REMOTE_MODES; raises ValueError naming them otherwise."""
    if remote not in REMOTE_MODES:
        raise ValueError(f"remote={remote!r}; use one of {REMOTE_MODES}")
    return remote


def request_context(
    profile: Profile,
    now: np.datetime64,
    *,
    k: int = 20,
    user_id: str | None = None,
    history: History | None = None,
    radius_km: float | None = None,
    remote: str = "acceptable",
    request_id: str | None = None,
) -> RequestContext:
    """The request for `profile` at `now`, with the filter defaults applied.

    `radius_km=None` searches within LOCAL_RADIUS_KM (widened by recall when few good matches
    are that near), or anywhere for a seeker who relocates;
    a profile without a location is never filtered by distance. Raises ValueError for a remote
    mode not in REMOTE_MODES. A missing `request_id` gets a fresh one.
    """
    check_remote_mode(remote)
    radius = radius_km
    if radius is None and not profile.relocate:
        radius = LOCAL_RADIUS_KM
    if profile.lat is None or profile.lon is None:
        radius = None
    return RequestContext(
        request_id=request_id if request_id is not None else uuid.uuid4().hex,
        profile=profile,
        now=now,
        k=k,
        user_id=user_id,
        history=history if history is not None else History(),
        filters=Filters(radius_km=radius, remote=remote, widen_radius=radius_km is None),
    )
