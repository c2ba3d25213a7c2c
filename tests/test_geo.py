"""Location parsing and distances against the offline gazetteer."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.geo import get_gazetteer, haversine_km


@pytest.mark.parametrize(
    ("text", "city", "state", "precision"),
    [
        ("Austin, TX", "Austin", "TX", "city"),
        ("New York, NY", "New York City", "NY", "city"),
        ("St Louis, MO", "St. Louis", "MO", "city"),
        ("Little River, SC", "Little River", "SC", "city"),
        ("Greater Boston", "Boston", "MA", "city"),
        ("San Francisco Bay Area", "San Francisco", "CA", "city"),
        ("Dallas-Fort Worth Metroplex", "Dallas", "TX", "city"),
        ("Austin, Texas Metropolitan Area", "Austin", "TX", "city"),
        ("Washington DC-Baltimore Area", "Washington", "DC", "city"),
        ("Texas, United States", "", "TX", "state"),
        ("Washington, United States", "", "WA", "state"),
        ("Nowhereville Township, PA", "", "PA", "state"),
        ("United States", "", "", "country"),
        ("", "", "", "country"),
    ],
)
def test_resolve(text: str, city: str, state: str, precision: str) -> None:
    loc = get_gazetteer().resolve(text)
    assert (loc.city, loc.state, loc.precision) == (city, state, precision)
    assert np.isfinite(loc.lat) and np.isfinite(loc.lon)


def test_haversine_known_distances() -> None:
    # Austin -> Dallas is about 292 km; a point to itself is 0; broadcasting works.
    aus, dal = get_gazetteer().resolve("Austin, TX"), get_gazetteer().resolve("Dallas, TX")
    d = haversine_km(aus.lat, aus.lon, np.array([aus.lat, dal.lat]), np.array([aus.lon, dal.lon]))
    assert d[0] == pytest.approx(0.0, abs=1e-6)
    assert d[1] == pytest.approx(292, rel=0.03)


def test_state_centroid_lies_inside_the_state() -> None:
    tx = get_gazetteer().resolve("Texas, United States")
    assert 25.8 < tx.lat < 36.5 and -106.7 < tx.lon < -93.5
