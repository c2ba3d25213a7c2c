"""Requests as the API states them, validated and turned into request contexts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.core.context import Profile, RequestContext, check_remote_mode, request_context
from recsys.service.clock import Clock
from recsys.service.seekers import SeekerDirectory, first_seen_of, profile_of


@dataclass
class RequestOptions:
    """What the caller asked for besides the profile."""

    k: int = 20
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    remote: str = "acceptable"
    #: the seniority range, in job zones (O*NET preparation levels 1..5) as the index holds them
    min_seniority: int = 1
    max_seniority: int = 5


class RequestBuilder:
    """Stored or inline profile + options -> a request context (the service adds the history)."""

    def __init__(self, seekers: SeekerDirectory, clock: Clock):
        self.seekers = seekers
        self.clock = clock

    def for_user(self, user_id: str, options: RequestOptions) -> RequestContext:
        """A request for a stored seeker; raises UnknownUserError for an id with no profile.
        The row is read once: profile and first-seen time both come from it."""
        row = self.seekers.row(user_id)
        return self.build(profile_of(row), options, user_id, first_seen_of(row))

    def build(
        self,
        profile: Profile,
        options: RequestOptions,
        user_id: str | None = None,
        first_seen: np.datetime64 | None = None,
    ) -> RequestContext:
        """The request for `profile`; a given user id comes with its `first_seen` (read from
        the directory when not given), from which the service makes the history it reads with
        the rest of the user's online state. Raises ValueError for an unknown remote mode or a
        lat without a lon (or the reverse)."""
        check_remote_mode(options.remote)
        if (options.lat is None) != (options.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if not 1 <= options.min_seniority <= options.max_seniority <= 5:
            raise ValueError(
                f"seniority range {options.min_seniority}-{options.max_seniority} is not "
                "1 <= min_seniority <= max_seniority <= 5 (job zones)"
            )
        if options.lat is not None and options.lon is not None:
            profile.lat, profile.lon = float(options.lat), float(options.lon)
            profile.location = f"{options.lat:.4f}, {options.lon:.4f}"
            profile.relocate = False
        now = self.clock()
        ctx = request_context(
            profile,
            now,
            k=options.k,
            user_id=user_id,
            radius_km=options.radius_km,
            remote=options.remote,
        )
        ctx.filters.min_zone, ctx.filters.max_zone = options.min_seniority, options.max_seniority
        if user_id is not None:
            ctx.first_seen = self.seekers.first_seen(user_id) if first_seen is None else first_seen
        return ctx
