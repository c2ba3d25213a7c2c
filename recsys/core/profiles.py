"""Seeker profiles: a stored seeker's row, or a profile sent with the request (cold start)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.core.context import Profile, RequestContext, request_context
from recsys.data.geo import get_gazetteer


def seeker_profile(seekers: pd.DataFrame, row: int) -> Profile:
    """The profile of row `row` of a seekers table (the columns of a market's seekers.parquet)."""
    s = seekers.iloc[row]
    return Profile(
        desired_title=str(s["desired_title"]),
        skills=list(s["skills"]),
        lat=float(s["lat"]),
        lon=float(s["lon"]),
        location=f"{s['city']}, {s['state']}",
        level=int(s["level"]),
        expected_salary=float(s["expected_salary"]),
        wants_remote=bool(s["wants_remote"]),
        relocate=bool(s["relocate"]),
    )


def inline_profile(
    title: str,
    location: str | None = None,
    skills: list[str] | None = None,
    level: int | None = None,
    wants_remote: bool = False,
) -> Profile:
    """A profile sent with the request; the location is resolved by the gazetteer.

    A place coarser than a city (a state, the country) is no point to measure a radius from, so
    such a profile is marked `relocate` (search anywhere; distance still counts in the ranking).
    """
    if not title or not title.strip():
        raise ValueError("a profile needs a desired title")
    lat = lon = None
    label = ""
    precise = False
    if location:
        place = get_gazetteer().resolve(location)
        lat, lon, label = place.lat, place.lon, place.label
        precise = place.precision == "city"
    return Profile(
        desired_title=title.strip(),
        skills=list(skills or []),
        lat=lat,
        lon=lon,
        location=label,
        level=level,
        wants_remote=wants_remote,
        relocate=not precise,
    )


def profile_request(
    title: str,
    location: str | None = None,
    skills: list[str] | None = None,
    k: int = 10,
    radius_km: float | None = None,
    remote: str = "acceptable",
    level: int | None = None,
    now: np.datetime64 | None = None,
) -> RequestContext:
    """A cold-start request from an inline profile (see `inline_profile`): within `radius_km`
    (default LOCAL_RADIUS_KM) of a city, anywhere for a coarser place or none."""
    profile = inline_profile(title, location, skills, level)
    return request_context(
        profile,
        now if now is not None else np.datetime64("now", "s"),
        k=k,
        radius_km=None if profile.relocate else radius_km,
        remote=remote,
    )
