"""Taxonomy lookups on the real O*NET 29.3 data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.data.errors import DataError
from recsys.data.taxonomy import (
    SAME_BROAD,
    SAME_MAJOR,
    SAME_MINOR,
    SAME_OCCUPATION,
    UNRELATED,
    Taxonomy,
    load_taxonomy,
    soc_ancestors,
)

SOFTWARE_DEV = "15-1252.00"
QA_ANALYST = "15-1253.00"
WEB_DEV = "15-1254.00"
DATA_SCIENTIST = "15-2051.00"
CEO = "11-1011.00"
SUSTAINABILITY_OFFICER = "11-1011.03"


def test_counts_match_the_release(taxonomy: Taxonomy) -> None:
    s = taxonomy.summary()
    assert s["occupations"] == 1016
    assert s["alternate titles"] == 56560
    assert s["major groups"] == 23
    assert s["with job zone"] == 923


def test_ancestors_walk_the_soc_hierarchy(taxonomy: Taxonomy) -> None:
    assert taxonomy.ancestors(SOFTWARE_DEV) == [
        ("major", "15-0000", "Computer and Mathematical Occupations"),
        ("minor", "15-1200", "Computer Occupations"),
        ("broad", "15-1250", "Software and Web Developers, Programmers, and Testers"),
        ("detailed", "15-1252", "Software Developers"),
    ]


def test_distance_counts_levels_to_the_common_ancestor(taxonomy: Taxonomy) -> None:
    assert taxonomy.distance(SOFTWARE_DEV, SOFTWARE_DEV) == SAME_OCCUPATION
    assert taxonomy.distance(CEO, SUSTAINABILITY_OFFICER) == 1  # same SOC detailed code
    assert taxonomy.distance(SOFTWARE_DEV, QA_ANALYST) == SAME_BROAD
    assert taxonomy.distance(SOFTWARE_DEV, DATA_SCIENTIST) == SAME_MAJOR
    assert taxonomy.distance(SOFTWARE_DEV, CEO) == UNRELATED
    assert taxonomy.distance(SOFTWARE_DEV, "15-1211.00") == SAME_MINOR
    # symmetric, and the vectorised form agrees with the scalar one
    a = np.array([taxonomy.index[c] for c in (SOFTWARE_DEV, CEO, QA_ANALYST)])
    b = np.array(
        [taxonomy.index[c] for c in (DATA_SCIENTIST, SUSTAINABILITY_OFFICER, SOFTWARE_DEV)]
    )
    assert taxonomy.distance_idx(a, b).tolist() == [SAME_MAJOR, 1, SAME_BROAD]
    assert taxonomy.distance_idx(b, a).tolist() == [SAME_MAJOR, 1, SAME_BROAD]


def test_siblings_share_the_ancestor(taxonomy: Taxonomy) -> None:
    sibs = taxonomy.siblings(SOFTWARE_DEV, "broad")
    assert QA_ANALYST in sibs and WEB_DEV in sibs and SOFTWARE_DEV not in sibs
    assert all(taxonomy[c].broad == "15-1250" for c in sibs)
    with pytest.raises(ValueError, match="level must be one of"):
        taxonomy.siblings(SOFTWARE_DEV, "galaxy")


def test_related_occupations_are_symmetric_and_vectorised(taxonomy: Taxonomy) -> None:
    rel = taxonomy[SOFTWARE_DEV].related
    assert (
        rel
        and taxonomy.is_related(SOFTWARE_DEV, rel[0])
        and taxonomy.is_related(rel[0], SOFTWARE_DEV)
    )
    a = np.array([taxonomy.index[SOFTWARE_DEV]] * 2)
    b = np.array([taxonomy.index[rel[0]], taxonomy.index["45-2092.00"]])
    assert taxonomy.related_mask(a, b).tolist() == [True, False]


def test_occupation_fields(taxonomy: Taxonomy) -> None:
    dev = taxonomy[SOFTWARE_DEV]
    assert dev.title == "Software Developers"
    assert dev.job_zone == 4 and dev.job_zone_reported
    assert "Python" in dev.tech_skills and dev.hot_skills <= set(dev.tech_skills)
    assert "Software Engineer" in dev.alternate_titles
    assert SOFTWARE_DEV in taxonomy.lookup_title("software engineer")
    # every occupation gets a job zone, inferred from its SOC relatives when O*NET has none
    assert set(taxonomy.job_zones.tolist()) <= {1, 2, 3, 4, 5}
    with pytest.raises(KeyError, match="unknown O\\*NET-SOC code"):
        taxonomy["99-9999.99"]


def test_soc_ancestors_from_digits() -> None:
    assert soc_ancestors("29-1141.01") == {
        "major": "29-0000",
        "minor": "29-1000",
        "broad": "29-1140",
        "detailed": "29-1141",
    }
    with pytest.raises(DataError, match="malformed"):
        soc_ancestors("nonsense")


def test_missing_data_dir_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="occupation_data.txt"):
        load_taxonomy(tmp_path)


def test_malformed_file_names_the_columns(tmp_path: Path, data_dir: Path) -> None:
    onet = tmp_path / "onet_29_3"
    onet.mkdir()
    (onet / "occupation_data.txt").write_text("Code\tName\n1\tx\n")
    with pytest.raises(DataError, match=r"lacks columns .*O\*NET-SOC Code"):
        load_taxonomy(tmp_path)
