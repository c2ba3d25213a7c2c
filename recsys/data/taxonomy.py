"""The O*NET 29.3 occupation taxonomy placed in the SOC 2018 hierarchy.

Occupations are kept in one order (index 0..n-1) with parallel numpy arrays for the hierarchy,
so distances between many pairs are vector operations; the simulator and the ranker's feature
function both rely on that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.errors import DataError, read_table

ONET_DIR = "onet_29_3"
SOC_DIR = "soc_2018"
LEVELS = ("major", "minor", "broad", "detailed")
#: distance between two occupations: levels up to their lowest common ancestor.
SAME_OCCUPATION, SAME_DETAILED, SAME_BROAD, SAME_MINOR, SAME_MAJOR, UNRELATED = range(6)
MAX_DISTANCE = UNRELATED
_CODE = "O*NET-SOC Code"


@dataclass(frozen=True)
class Occupation:
    """One O*NET-SOC occupation with its place in the SOC hierarchy."""

    code: str
    title: str
    description: str
    major: str
    minor: str
    broad: str
    detailed: str
    job_zone: int
    job_zone_reported: bool
    alternate_titles: tuple[str, ...]
    tech_skills: tuple[str, ...]
    hot_skills: frozenset[str]
    in_demand_skills: frozenset[str]
    related: tuple[str, ...]


def soc_ancestors(onet_code: str) -> dict[str, str]:
    """SOC 2018 codes above an O*NET-SOC code, derived from the code's digits.

    15-1252.00 -> major 15-0000, minor 15-1200, broad 15-1250, detailed 15-1252. The loader
    prefers the SOC structure file's own ancestors and uses this only for codes it lacks.
    """
    if len(onet_code) < 7 or onet_code[2] != "-":
        raise DataError(f"malformed O*NET-SOC code {onet_code!r}: expected XX-XXXX.XX")
    detailed = onet_code[:7]
    major = detailed[:2] + "-0000"
    minor = detailed[:4] + "000"
    broad = detailed[:6] + "0"
    return {"major": major, "minor": minor, "broad": broad, "detailed": detailed}


class Taxonomy:
    """Occupations, their hierarchy, titles, skills and relations, with fast lookups."""

    def __init__(self, occupations: list[Occupation], soc_titles: dict[str, str]):
        if not occupations:
            raise DataError("taxonomy has no occupations")
        self.occupations = occupations
        self.soc_titles = soc_titles
        self.codes = np.array([o.code for o in occupations])
        self.index = {o.code: i for i, o in enumerate(occupations)}
        self._level_ids = {
            level: self._factorize([getattr(o, level) for o in occupations]) for level in LEVELS
        }
        self.job_zones = np.array([o.job_zone for o in occupations], dtype=np.int8)
        self.skill_vocab: list[str] = sorted({s for o in occupations for s in o.tech_skills})
        self.skill_index = {s: i for i, s in enumerate(self.skill_vocab)}
        related = [
            (self.index[o.code], self.index[r])
            for o in occupations
            for r in o.related
            if r in self.index
        ]
        self._related = {(a, b) for a, b in related} | {(b, a) for a, b in related}
        n = len(occupations)
        self._related_keys = np.array(sorted(a * n + b for a, b in self._related), dtype=np.int64)
        self._by_title: dict[str, list[int]] = {}
        for i, o in enumerate(occupations):
            for t in (o.title, *o.alternate_titles):
                self._by_title.setdefault(t.lower(), []).append(i)

    @staticmethod
    def _factorize(values: list[str]) -> np.ndarray:
        codes, _ = pd.factorize(pd.Series(values))
        return codes.astype(np.int32)

    def __len__(self) -> int:
        return len(self.occupations)

    def __getitem__(self, code: str) -> Occupation:
        try:
            return self.occupations[self.index[code]]
        except KeyError:
            raise KeyError(f"unknown O*NET-SOC code {code!r}") from None

    def level_ids(self, level: str) -> np.ndarray:
        """Group id per occupation at a SOC level (major, minor, broad or detailed)."""
        return self._level_ids[level]

    def ancestors(self, code: str) -> list[tuple[str, str, str]]:
        """(level, SOC code, title) from the major group down to the detailed occupation."""
        occ = self[code]
        return [
            (lvl, getattr(occ, lvl), self.soc_titles.get(getattr(occ, lvl), "")) for lvl in LEVELS
        ]

    def siblings(self, code: str, level: str = "broad") -> list[str]:
        """Other occupations that share the ancestor at `level` with `code`."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        i = self.index[self[code].code]
        ids = self._level_ids[level]
        return [str(c) for c in self.codes[(ids == ids[i]) & (np.arange(len(self)) != i)]]

    def distance(self, a: str, b: str) -> int:
        """Levels up to the lowest common ancestor: 0 same occupation ... 5 other major group."""
        return int(
            self.distance_idx(
                np.array([self.index[self[a].code]]), np.array([self.index[self[b].code]])
            )[0]
        )

    def distance_idx(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Element-wise (broadcasting) taxonomy distance between occupation indices."""
        a = np.asarray(a)
        b = np.asarray(b)
        dist = np.full(np.broadcast_shapes(a.shape, b.shape), UNRELATED, dtype=np.int8)
        for d, level in zip((SAME_MAJOR, SAME_MINOR, SAME_BROAD, SAME_DETAILED), LEVELS):
            ids = self._level_ids[level]
            dist = np.where(ids[a] == ids[b], np.int8(d), dist)
        return np.where(a == b, np.int8(SAME_OCCUPATION), dist)

    def is_related(self, a: str, b: str) -> bool:
        """Whether O*NET lists the two occupations as related (either direction)."""
        return (self.index[a], self.index[b]) in self._related

    def related_mask(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Element-wise 'O*NET says related' for occupation index arrays."""
        keys = np.asarray(a, dtype=np.int64) * len(self) + np.asarray(b, dtype=np.int64)
        pos = np.searchsorted(self._related_keys, keys)
        pos = np.minimum(pos, len(self._related_keys) - 1)
        return self._related_keys[pos] == keys

    def lookup_title(self, title: str) -> list[str]:
        """Occupation codes whose title or an alternate title equals `title` (case-insensitive)."""
        return [str(self.codes[i]) for i in self._by_title.get(title.strip().lower(), [])]

    def title_pairs(self) -> pd.DataFrame:
        """All (title, code) pairs: occupation titles and alternate titles, deduplicated."""
        rows = [(o.title, o.code, "title") for o in self.occupations]
        rows += [(t, o.code, "alternate") for o in self.occupations for t in o.alternate_titles]
        frame = pd.DataFrame(rows, columns=["title", "code", "source"])
        return frame.drop_duplicates(["title", "code"]).reset_index(drop=True)

    def skills_for(self, code: str) -> tuple[str, ...]:
        """Technology skills of an occupation; the broad group's union when it lists none."""
        occ = self[code]
        if occ.tech_skills:
            return occ.tech_skills
        for level in ("broad", "minor", "major"):
            ids = self._level_ids[level]
            i = self.index[code]
            pool = sorted(
                {s for j in np.flatnonzero(ids == ids[i]) for s in self.occupations[j].tech_skills}
            )
            if pool:
                return tuple(pool)
        return ()

    def skill_matrix(self, skill_lists: Iterable[Iterable[str]]) -> sp.csr_matrix:
        """Binary rows over `skill_vocab`, one per skill list; unknown names are ignored."""
        index = self.skill_index
        rows = [
            np.array(sorted({index[s] for s in skills if s in index}), dtype=np.int32)
            for skills in skill_lists
        ]
        return rows_to_csr(rows, len(self.skill_vocab))

    def summary(self) -> dict[str, int]:
        """Counts that `recsys data check` prints."""
        return {
            "occupations": len(self),
            "major groups": int(self._level_ids["major"].max() + 1),
            "minor groups": int(self._level_ids["minor"].max() + 1),
            "broad groups": int(self._level_ids["broad"].max() + 1),
            "detailed SOC": int(self._level_ids["detailed"].max() + 1),
            "alternate titles": sum(len(o.alternate_titles) for o in self.occupations),
            "with job zone": sum(o.job_zone_reported for o in self.occupations),
            "technology skills": len(self.skill_vocab),
            "related pairs": len(self._related) // 2,
        }


def rows_to_csr(rows: list[np.ndarray], n_columns: int) -> sp.csr_matrix:
    """A binary sparse matrix whose row i has ones at the column ids `rows[i]`."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    return sp.csr_matrix(
        (np.ones(len(indices), np.float32), indices, indptr), shape=(len(rows), n_columns)
    )


def _onet(data_dir: Path, name: str, columns: list[str], what: str) -> pd.DataFrame:
    return read_table(data_dir / ONET_DIR / name, [_CODE, *columns], sep="\t", what=what)


@lru_cache(maxsize=4)
def load_taxonomy(data_dir: Path) -> Taxonomy:
    """Load O*NET 29.3 and SOC 2018 from `data_dir` (see README, Data)."""
    data_dir = Path(data_dir)
    occ = _onet(data_dir, "occupation_data.txt", ["Title", "Description"], "O*NET Occupation Data")
    alt = _onet(data_dir, "alternate_titles.txt", ["Alternate Title"], "O*NET Alternate Titles")
    zones = _onet(data_dir, "job_zones.txt", ["Job Zone"], "O*NET Job Zones")
    tech = _onet(
        data_dir,
        "technology_skills.txt",
        ["Example", "Hot Technology", "In Demand"],
        "O*NET Technology Skills",
    )
    rel = _onet(
        data_dir,
        "related_occupations.txt",
        ["Related O*NET-SOC Code", "Index"],
        "O*NET Related Occupations",
    )
    soc = read_table(
        data_dir / SOC_DIR / "soc_2018_structure.csv",
        ["soc_code", "level", "title", "major_group", "minor_group", "broad_group"],
        what="SOC 2018 structure",
    )
    soc_titles = dict(zip(soc["soc_code"], soc["title"]))
    detailed_rows = soc[soc["level"] == "detailed"].set_index("soc_code")

    bad = occ[~occ[_CODE].str.fullmatch(r"\d\d-\d\d\d\d\.\d\d", na=False)]
    if len(bad):
        raise DataError(
            f"{data_dir / ONET_DIR / 'occupation_data.txt'}: malformed codes "
            f"{bad[_CODE].head(3).tolist()}; expected XX-XXXX.XX"
        )
    alt_by = alt.dropna(subset=["Alternate Title"]).groupby(_CODE)["Alternate Title"].agg(tuple)
    zone_by = pd.to_numeric(zones.set_index(_CODE)["Job Zone"], errors="coerce").dropna()
    tech = tech.dropna(subset=["Example"])
    tech_by = tech.groupby(_CODE)["Example"].agg(lambda s: tuple(dict.fromkeys(s)))
    hot_by = tech[tech["Hot Technology"] == "Y"].groupby(_CODE)["Example"].agg(frozenset)
    dem_by = tech[tech["In Demand"] == "Y"].groupby(_CODE)["Example"].agg(frozenset)
    rel = rel.assign(order=pd.to_numeric(rel["Index"], errors="coerce")).sort_values(
        [_CODE, "order"]
    )
    rel_by = rel.groupby(_CODE)["Related O*NET-SOC Code"].agg(tuple)

    # Job zone for the ~90 occupations O*NET does not rate: the median of their SOC relatives.
    anc = {code: soc_ancestors(code) for code in occ[_CODE]}

    def inferred_zone(code: str) -> int:
        for level in ("detailed", "broad", "minor", "major"):
            peers = [
                zone_by[c] for c in zone_by.index if anc.get(c, {}).get(level) == anc[code][level]
            ]
            if peers:
                return int(round(float(np.median(peers))))
        return 3

    occupations = []
    for code, title, desc in occ[[_CODE, "Title", "Description"]].itertuples(index=False):
        a = anc[code]
        if a["detailed"] in detailed_rows.index:
            row = detailed_rows.loc[a["detailed"]]
            a = {
                "major": row["major_group"],
                "minor": row["minor_group"],
                "broad": row["broad_group"],
                "detailed": a["detailed"],
            }
        reported = code in zone_by.index
        occupations.append(
            Occupation(
                code=code,
                title=title,
                description=desc or "",
                major=a["major"],
                minor=a["minor"],
                broad=a["broad"],
                detailed=a["detailed"],
                job_zone=int(zone_by[code]) if reported else inferred_zone(code),
                job_zone_reported=reported,
                alternate_titles=alt_by.get(code, ()),
                tech_skills=tech_by.get(code, ()),
                hot_skills=hot_by.get(code, frozenset()),
                in_demand_skills=dem_by.get(code, frozenset()),
                related=rel_by.get(code, ()),
            )
        )
    return Taxonomy(occupations, soc_titles)
