"""The hard filters of a job search and the one vectorised mask over index rows they become."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from recsys.core.context import REMOTE_MODES, RemoteMode
from recsys.data.geo import EARTH_RADIUS_KM, haversine_km
from recsys.recall.index_columns import IndexStorage

__all__ = [
    "REMOTE_MODES",
    "IndexFilter",
    "RemoteMode",
    "allowed_mask",
    "base_mask",
    "within_radius",
]
_KM_PER_DEGREE_LAT: Final[float] = 111.19


@dataclass(frozen=True)
class IndexFilter:
    """Hard filters applied inside the search.

    `radius_km` around `center` (lat, lon); remote jobs pass regardless of the radius unless
    `remote="exclude"` ("only" keeps remote jobs only). Job zones in [min_zone, max_zone].
    Jobs with `expires_at <= now` never match (`now=None` means the current UTC time).
    `exclude_ids` are job ids never to return (already applied to).
    """

    center: tuple[float, float] | None = None
    radius_km: float | None = None
    remote: str = "acceptable"
    min_zone: int = 1
    max_zone: int = 5
    now: np.datetime64 | None = None
    exclude_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.remote not in REMOTE_MODES:
            raise ValueError(f"remote={self.remote!r} is unknown; use one of {REMOTE_MODES}")
        if self.radius_km is not None:
            if self.center is None:
                raise ValueError("radius_km needs a center=(lat, lon) to measure from")
            if not self.radius_km > 0:
                raise ValueError(f"radius_km must be > 0, got {self.radius_km}")
        if self.center is not None:
            lat, lon = self.center
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(
                    f"center {self.center} is not (lat in [-90, 90], lon in [-180, 180])"
                )
        if self.min_zone > self.max_zone:
            raise ValueError(f"min_zone {self.min_zone} > max_zone {self.max_zone}; swap them")


def allowed_mask(store: IndexStorage, filters: IndexFilter | None = None) -> np.ndarray:
    """Boolean mask over the rows in use: alive and passing every hard filter."""
    f = filters or IndexFilter()
    return within_radius(store, f, base_mask(store, f), f.radius_km)


def base_mask(store: IndexStorage, f: IndexFilter) -> np.ndarray:
    """The rows passing every hard filter but the radius: a widened search recomputes only that."""
    n, c = store.n, store.cols
    mask = store.alive[:n].copy()
    now = np.datetime64("now", "s") if f.now is None else np.asarray(f.now).astype("datetime64[s]")
    mask &= c.expires_at[:n] > now.astype(np.int64)
    if f.min_zone > 1 or f.max_zone < 5:
        zone = c.job_zone[:n]
        mask &= (zone >= f.min_zone) & (zone <= f.max_zone)
    remote = c.remote[:n]
    if f.remote == "only":
        mask &= remote
    elif f.remote == "exclude":
        mask &= ~remote
    if f.exclude_ids is not None and len(f.exclude_ids):
        mask[store.rows(f.exclude_ids)] = False
    return mask


def within_radius(
    store: IndexStorage, f: IndexFilter, base: np.ndarray, radius_km: float | None
) -> np.ndarray:
    """`base` (from `base_mask`) narrowed to `radius_km` around `f.center`; remote jobs pass any
    radius unless the filter excludes them. No radius or no center: `base` itself."""
    if radius_km is None or f.center is None:
        return base
    remote = store.cols.remote[: store.n]
    if f.remote == "exclude":
        return _near(store, f.center, radius_km, base)
    return _near(store, f.center, radius_km, base & ~remote) | (base & remote)


def _near(
    store: IndexStorage, center: tuple[float, float], radius_km: float, mask: np.ndarray
) -> np.ndarray:
    """The rows of `mask` within `radius_km` of `center`: the haversine runs only on the rows
    inside the circle's bounding box (the latitude band, and the longitudes within
    asin(sin(r / R) / cos(lat)) of the center's, across the antimeridian too). The band alone
    spans a continent; the box holds about 4/pi of the circle's own rows."""
    lat0, lon0 = float(center[0]), float(center[1])
    n, cols = store.n, store.cols
    lat = cols.lat[:n]
    band = np.abs(lat - np.float32(lat0)) <= radius_km / _KM_PER_DEGREE_LAT + 1e-3
    rows = np.flatnonzero(band & mask)
    reach = math.sin(min(radius_km / EARTH_RADIUS_KM, math.pi / 2))
    spread = math.cos(math.radians(min(abs(lat0) + radius_km / _KM_PER_DEGREE_LAT, 90.0)))
    if reach < spread:  # the circle stays off the poles: its longitudes are bounded
        max_dlon = math.degrees(math.asin(reach / spread)) + 1e-3
        dlon = np.abs((cols.lon[rows] - np.float32(lon0) + 180.0) % 360.0 - 180.0)
        rows = rows[dlon <= max_dlon]
    dist = haversine_km(lat0, lon0, lat[rows].astype(np.float64), cols.lon[rows].astype(np.float64))
    near = np.zeros(n, bool)
    near[rows[dist <= radius_km]] = True
    return near
