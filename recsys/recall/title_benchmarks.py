"""Built-in title-retrieval benchmarks, written as queries/corpus TSV + TREC qrels.

* `onet`: held-out O*NET alternate titles (never seen in training) as queries against a corpus
  of occupation titles and training alternate titles. Graded: same occupation 3, same SOC
  detailed 2, same broad group 1. Binary metrics count grade 3 only, so MRR is "rank of the
  first title of the right occupation" and nDCG also rewards near misses ranked above far ones.
* `esco`: the same task on ESCO (a different, European taxonomy): alternate labels that are not
  O*NET titles as queries, graded by ISCO-08 (same occupation 3, unit group 2, minor group 1).
  It asks whether tuning on O*NET generalises to titles the encoder never saw in any form.
  With ESCO in the encoder's training data, queries come only from the ESCO occupations
  held out of training entirely (`title_split.heldout_esco_occupations`).
* `soc`: SOC 2018 broad-group and detailed titles that are not O*NET titles, against the O*NET
  occupation titles; relevant: the O*NET occupations under that SOC code. It mirrors "titles
  of an official occupation classification that do not appear in O*NET, mapped to O*NET".
* `linkedin`: real LinkedIn posting titles grouped by a rule-based core title (seniority,
  shift, contract and location words and anything after " - ", " | ", "(" removed). Query: one
  posting title; relevant: other postings with the same core. A proxy for "does tuning hurt
  plain title matching on noisy real titles"; it favours lexical overlap (a synonym with a
  different core counts as wrong), so it is biased toward TF-IDF and toward the base model.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.errors import read_table
from recsys.data.taxonomy import Taxonomy
from recsys.recall.retrieval_evaluation import RetrievalData
from recsys.recall.title_split import TitleSplit, heldout_esco_occupations, normalize_title

#: Grade by taxonomy distance (0 same occupation, 1 same detailed, 2 same broad, more: 0).
ONET_GRADE_BY_DISTANCE = np.array([3, 2, 1, 0, 0, 0], dtype=np.int64)
ESCO_FILE = Path("esco_v1_0") / "occupations_en.csv"
LINKEDIN_FILE = Path("linkedin_2024_arshkon") / "job_titles_123k.csv.gz"
BUILTIN = ("onet", "esco", "soc", "linkedin")
SOC_QUERY_LEVELS = ("broad", "detailed")


def _ids(prefix: str, n: int) -> list[str]:
    width = len(str(max(n - 1, 0)))
    return [f"{prefix}{i:0{width}d}" for i in range(n)]


def _grade_qrels(grades: np.ndarray, q_ids: list[str], c_ids: list[str]) -> pd.DataFrame:
    """Qrels rows for the non-zero cells of a (queries x corpus) grade matrix."""
    q, c = np.nonzero(grades)
    return pd.DataFrame(
        {
            "q_id": np.asarray(q_ids)[q],
            "c_id": np.asarray(c_ids)[c],
            "relevance": grades[q, c].astype(np.int64),
        }
    )


def _min_over_codes(
    dist: np.ndarray,
    q_row: np.ndarray,
    q_code: np.ndarray,
    d_row: np.ndarray,
    d_code: np.ndarray,
    n_q: int,
    n_d: int,
) -> np.ndarray:
    """Smallest code distance between every query and document that carry several codes."""
    out = np.full((n_q, n_d), np.iinfo(np.int8).max, dtype=np.int8)
    pairwise = dist[q_code[:, None], d_code[None, :]]
    per_query = np.full((n_q, len(d_code)), np.iinfo(np.int8).max, dtype=np.int8)
    np.minimum.at(per_query, q_row, pairwise)
    np.minimum.at(out.T, d_row, per_query.T)
    return out


def onet_benchmark(
    taxonomy: Taxonomy,
    split: TitleSplit,
    *,
    max_queries: int = 1000,
    titles_per_occupation: int = 4,
    seed: int = 42,
) -> RetrievalData:
    """Held-out O*NET titles against occupation titles plus a few training titles each."""
    rng = np.random.default_rng(seed)
    heldout = split.heldout
    keys = np.sort(heldout["key"].unique())
    chosen = set(rng.permutation(keys)[:max_queries].tolist())
    q_rows = heldout[heldout["key"].isin(chosen)].sort_values(["key", "code"])
    queries = q_rows.drop_duplicates("key")[["key", "title"]].reset_index(drop=True)

    train = split.train
    primary = train[train["source"] == "title"]
    alternates = train[(train["source"] != "title") & ~train["key"].isin(primary["key"])]
    alternates = alternates.assign(order=rng.random(len(alternates))).sort_values(["code", "order"])
    alternates = alternates[alternates.groupby("code").cumcount() < titles_per_occupation]
    docs = pd.concat([primary, alternates])
    # Every occupation a corpus title belongs to counts, not only the one it was sampled for.
    doc_titles = docs.drop_duplicates("key")[["key", "title"]].reset_index(drop=True)
    doc_codes = train[train["key"].isin(doc_titles["key"])]

    key_index_q = pd.Series(np.arange(len(queries)), index=queries["key"])
    key_index_d = pd.Series(np.arange(len(doc_titles)), index=doc_titles["key"])
    occ = pd.Series(np.arange(len(taxonomy)), index=taxonomy.codes)
    all_idx = np.arange(len(taxonomy))
    dist = taxonomy.distance_idx(all_idx[:, None], all_idx[None, :]).astype(np.int8)
    min_dist = _min_over_codes(
        dist,
        key_index_q.reindex(q_rows["key"]).to_numpy(),
        occ.reindex(q_rows["code"]).to_numpy(),
        key_index_d.reindex(doc_codes["key"]).to_numpy(),
        occ.reindex(doc_codes["code"]).to_numpy(),
        len(queries),
        len(doc_titles),
    )
    grades = ONET_GRADE_BY_DISTANCE[np.minimum(min_dist, len(ONET_GRADE_BY_DISTANCE) - 1)]
    q_ids, c_ids = _ids("q", len(queries)), _ids("c", len(doc_titles))
    return RetrievalData(
        queries=pd.DataFrame({"q_id": q_ids, "jobtitle": queries["title"]}),
        corpus=pd.DataFrame({"c_id": c_ids, "jobtitle": doc_titles["title"]}),
        qrels=_grade_qrels(grades, q_ids, c_ids),
        name="onet",
        relevance_threshold=3,
        details={"split": split.describe(), "titles_per_occupation": titles_per_occupation},
    )


def read_esco_labels(data_dir: Path) -> pd.DataFrame:
    """One row per (ESCO occupation, label) with `preferred` marking the preferred label."""
    path = Path(data_dir) / ESCO_FILE
    frame = read_table(
        path, ["conceptUri", "iscoGroup", "preferredLabel", "altLabels"], what="ESCO occupations"
    )
    frame = frame.fillna("")
    alt = frame.assign(label=frame["altLabels"].str.split("\n")).explode("label")
    labels = pd.concat(
        [
            frame.assign(label=frame["preferredLabel"], preferred=True),
            alt.assign(preferred=False),
        ]
    )[["conceptUri", "iscoGroup", "label", "preferred"]]
    labels["label"] = labels["label"].str.strip()
    labels = labels[labels["label"] != ""]
    labels["key"] = labels["label"].map(normalize_title)
    return labels.drop_duplicates(["conceptUri", "key"]).reset_index(drop=True)


def unambiguous_esco_labels(data_dir: Path) -> pd.DataFrame:
    """ESCO labels that name exactly one occupation (a shared label has no single answer)."""
    labels = read_esco_labels(data_dir)
    return labels[labels.groupby("key")["conceptUri"].transform("nunique") == 1]


def heldout_esco(data_dir: Path, *, fraction: float, seed: int) -> set[str]:
    """The ESCO occupations an encoder trained with this fraction and seed never saw."""
    labels = unambiguous_esco_labels(data_dir)
    return heldout_esco_occupations(labels["conceptUri"], fraction=fraction, seed=seed)


def esco_benchmark(
    data_dir: Path,
    exclude_keys: set[str],
    *,
    max_queries: int = 1000,
    labels_per_occupation: int = 2,
    seed: int = 42,
    query_occupations: set[str] | None = None,
) -> RetrievalData:
    """ESCO alternate labels (none of them an O*NET title) against ESCO labels.

    `query_occupations`, when given, limits the queries to those ESCO occupations (the ones an
    encoder trained on ESCO never saw); the corpus still holds every occupation's labels.
    """
    rng = np.random.default_rng(seed)
    labels = unambiguous_esco_labels(data_dir)
    labels = labels.assign(order=rng.random(len(labels))).sort_values(["conceptUri", "order"])
    candidates = labels[~labels["preferred"] & ~labels["key"].isin(exclude_keys)]
    if query_occupations is not None:
        candidates = candidates[candidates["conceptUri"].isin(query_occupations)]
    # At most one query per occupation, so big occupations do not dominate the mean.
    candidates = candidates.drop_duplicates("conceptUri")
    queries = candidates.iloc[rng.permutation(len(candidates))[:max_queries]]
    rest = labels[~labels["key"].isin(queries["key"])]
    extra = rest[~rest["preferred"]]
    extra = extra[extra.groupby("conceptUri").cumcount() < labels_per_occupation]
    docs = pd.concat([rest[rest["preferred"]], extra]).drop_duplicates("key").reset_index(drop=True)

    q_occ, d_occ = queries["conceptUri"].to_numpy(), docs["conceptUri"].to_numpy()
    q_isco, d_isco = queries["iscoGroup"].to_numpy(), docs["iscoGroup"].to_numpy()
    same_occ = q_occ[:, None] == d_occ[None, :]
    same_unit = q_isco[:, None] == d_isco[None, :]
    q_minor = np.array([c[:3] for c in q_isco])
    d_minor = np.array([c[:3] for c in d_isco])
    same_minor = q_minor[:, None] == d_minor[None, :]
    grades = np.select([same_occ, same_unit, same_minor], [3, 2, 1], default=0)
    q_ids, c_ids = _ids("q", len(queries)), _ids("c", len(docs))
    return RetrievalData(
        queries=pd.DataFrame({"q_id": q_ids, "jobtitle": queries["label"].to_numpy()}),
        corpus=pd.DataFrame({"c_id": c_ids, "jobtitle": docs["label"].to_numpy()}),
        qrels=_grade_qrels(grades, q_ids, c_ids),
        name="esco",
        relevance_threshold=3,
        details={
            "excluded_onet_titles": len(exclude_keys),
            "labels_per_occupation": labels_per_occupation,
            "query_occupations": None if query_occupations is None else len(query_occupations),
        },
    )


_CUT = re.compile(r"\s[-\u2013\u2014|/:]\s|,|\(|\[|\s@\s")
_NON_WORD = re.compile(r"[^a-z&+ ]+")
_MODIFIERS = frozenset(
    [
        "senior",
        "sr",
        "jr",
        "junior",
        "lead",
        "principal",
        "staff",
        "entry",
        "level",
        "mid",
        "experienced",
        "i",
        "ii",
        "iii",
        "iv",
        "v",
        "vi",
        "remote",
        "hybrid",
        "onsite",
        "on",
        "site",
        "part",
        "full",
        "time",
        "parttime",
        "fulltime",
        "prn",
        "per",
        "diem",
        "temporary",
        "temp",
        "contract",
        "contractor",
        "seasonal",
        "night",
        "nights",
        "weekend",
        "weekends",
        "day",
        "days",
        "evening",
        "evenings",
        "overnight",
        "shift",
        "st",
        "nd",
        "rd",
        "th",
        "travel",
        "traveling",
        "new",
        "grad",
        "hiring",
        "immediately",
        "urgently",
        "needed",
        "now",
        "bonus",
        "sign",
        "on",
    ]
)


def core_title(title: str) -> str:
    """Rule-based core of a posting title: the first clause without level and schedule words."""
    head = _CUT.split(title.lower(), maxsplit=1)[0]
    words = _NON_WORD.sub(" ", head).split()
    return " ".join(w for w in words if w not in _MODIFIERS)


def linkedin_benchmark(
    data_dir: Path,
    *,
    max_queries: int = 1000,
    variants_per_query: int = 4,
    distractors: int = 5000,
    seed: int = 42,
) -> RetrievalData:
    """Real posting titles: which other titles share the query's core title.

    Only cores with at least three distinct titles are used (a query and two relevant titles);
    `distractors` titles with other cores fill the corpus so retrieval is not trivial.
    """
    rng = np.random.default_rng(seed)
    path = Path(data_dir) / LINKEDIN_FILE
    titles = read_table(path, ["title"], what="LinkedIn job titles")["title"].dropna()
    frame = pd.DataFrame({"title": titles.map(lambda t: " ".join(str(t).split()))})
    frame["key"] = frame["title"].map(normalize_title)
    frame = frame.drop_duplicates("key")
    frame["core"] = frame["title"].map(core_title)
    frame = frame[frame["core"].str.len() >= 3]
    frame = frame.assign(order=rng.random(len(frame))).sort_values(["core", "order"])
    sizes = frame.groupby("core")["key"].transform("size")
    cores = np.sort(frame.loc[sizes >= 3, "core"].unique())
    chosen = frame["core"].isin(set(rng.permutation(cores)[:max_queries].tolist()))
    picked = frame[chosen]
    slot = picked.groupby("core").cumcount()
    queries = picked[slot == 0].reset_index(drop=True)
    others = frame[~chosen]
    noise = others.iloc[rng.permutation(len(others))[:distractors]]
    docs = pd.concat([picked[(slot > 0) & (slot <= variants_per_query)], noise])
    docs = docs.reset_index(drop=True)
    grades = (queries["core"].to_numpy()[:, None] == docs["core"].to_numpy()[None, :]).astype(
        np.int64
    )
    q_ids, c_ids = _ids("q", len(queries)), _ids("c", len(docs))
    return RetrievalData(
        queries=pd.DataFrame({"q_id": q_ids, "jobtitle": queries["title"]}),
        corpus=pd.DataFrame({"c_id": c_ids, "jobtitle": docs["title"]}),
        qrels=_grade_qrels(grades, q_ids, c_ids),
        name="linkedin",
        relevance_threshold=1,
        details={
            "variants_per_query": variants_per_query,
            "distractors": len(noise),
            "source": str(LINKEDIN_FILE),
        },
    )


def soc_benchmark(taxonomy: Taxonomy) -> RetrievalData:
    """SOC 2018 titles absent from O*NET as queries against the O*NET occupation titles."""
    soc = pd.Series(taxonomy.soc_titles, name="title").rename_axis("soc_code").reset_index()
    detailed = soc["soc_code"].str.fullmatch(r"\d\d-\d\d\d[1-9]")
    broad = soc["soc_code"].str.fullmatch(r"\d\d-\d\d\d0") & ~soc["soc_code"].str.endswith("00")
    soc = soc[detailed | broad].assign(prefix=np.where(detailed[detailed | broad], 7, 6))
    soc = soc[~soc["title"].map(normalize_title).isin(onet_title_keys(taxonomy))]
    # "Miscellaneous Managers", "... Workers, All Other": catch-alls no title can be matched to.
    soc = soc[~soc["title"].str.contains(r"Miscellaneous|All Other", regex=True)]
    soc = soc.drop_duplicates("title").reset_index(drop=True)
    codes = pd.Series(taxonomy.codes)
    prefixes = soc["soc_code"].str.slice(0, 7).to_numpy()
    lengths = soc["prefix"].to_numpy()
    grades = np.stack(
        [codes.str.slice(0, int(n)).to_numpy() == p[: int(n)] for p, n in zip(prefixes, lengths)]
    ).astype(np.int64)
    answered = grades.any(axis=1)
    soc, grades = soc[answered].reset_index(drop=True), grades[answered]
    q_ids, c_ids = _ids("q", len(soc)), _ids("c", len(codes))
    return RetrievalData(
        queries=pd.DataFrame({"q_id": q_ids, "jobtitle": soc["title"]}),
        corpus=pd.DataFrame({"c_id": c_ids, "jobtitle": [o.title for o in taxonomy.occupations]}),
        qrels=_grade_qrels(grades, q_ids, c_ids),
        name="soc",
        relevance_threshold=1,
        details={"levels": list(SOC_QUERY_LEVELS), "queries": len(soc)},
    )


def onet_title_keys(taxonomy: Taxonomy) -> set[str]:
    """Normalised keys of every O*NET title, to keep them out of the ESCO queries."""
    return set(taxonomy.title_pairs()["title"].map(normalize_title))


def builtin_benchmark(name: str, model_specs: list[str]) -> RetrievalData:
    """A built-in benchmark, held out as the trained models among `model_specs` recorded.

    `onet` uses the title split of the first trained model; `esco` asks only about the ESCO
    occupations held out of the first model that trained on ESCO (all of them otherwise).
    """
    from recsys.data.taxonomy import load_taxonomy
    from recsys.recall.encoder import read_metadata
    from recsys.recall.title_split import split_titles
    from recsys.settings import get_settings

    if name not in BUILTIN:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(BUILTIN)}")
    settings = get_settings()
    if name == "linkedin":
        return linkedin_benchmark(settings.data_dir)
    taxonomy = load_taxonomy(settings.data_dir)
    if name == "soc":
        return soc_benchmark(taxonomy)
    trained = [read_metadata(Path(spec)) for spec in model_specs if Path(spec).is_dir()]
    if name == "esco":
        recorded = next(
            (m["esco_split"] for m in trained if (m.get("esco_split") or {}).get("used")), None
        )
        held = (
            None
            if recorded is None
            else heldout_esco(
                settings.data_dir,
                fraction=float(recorded["heldout_fraction"]),
                seed=int(recorded["seed"]),
            )
        )
        return esco_benchmark(settings.data_dir, onet_title_keys(taxonomy), query_occupations=held)
    recorded = (trained[0].get("split") or {}) if trained else {}
    seed = int(recorded.get("seed", settings.seed))
    fraction = float(recorded.get("heldout_fraction", settings.encoder_heldout_fraction))
    split = split_titles(taxonomy, seed=seed, heldout_fraction=fraction)
    return onet_benchmark(taxonomy, split, seed=seed)
