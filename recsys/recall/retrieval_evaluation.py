"""Retrieval evaluation of title encoders: files in, per-query metrics and significance out.

Input is the usual IR triple: queries and corpus as TSV (`q_id<TAB>jobtitle`,
`c_id<TAB>jobtitle`, header row) and TREC qrels (`q_id 0 c_id relevance`, whitespace, no
header). Each model retrieves by exact cosine over the whole corpus (no index, so the numbers
measure the encoder and nothing else). Queries without a relevant judgement are skipped, as
trec_eval does.

Models are named by spec: `base` (the untuned encoder), `tfidf` (char + word n-gram TF-IDF, the
lexical baseline any learned encoder must beat), or a folder written by `recsys encoder train`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from recsys.data.errors import DataError
from recsys.evaluation import metrics
from recsys.evaluation.significance import paired_randomization_test, paired_t_test

TFIDF = "tfidf"
#: The keys of one model's summary, in this order; the JSON output has exactly these.
SUMMARY_KEYS = ("model", "map", "mrr", "ndcg@10", "recall@10", "recall@100", "n_queries")
METRICS = SUMMARY_KEYS[1:-1]
QUERIES_FILE, CORPUS_FILE, QRELS_FILE = "queries.tsv", "corpus.tsv", "qrels.txt"
_SCORE_CHUNK = 512


@dataclass(frozen=True)
class RetrievalData:
    """Queries, corpus and graded judgements, validated against each other.

    `relevance_threshold` is the grade from which a document counts as relevant for the binary
    metrics (MAP, MRR, Recall); nDCG always uses every positive grade.
    """

    queries: pd.DataFrame
    corpus: pd.DataFrame
    qrels: pd.DataFrame
    name: str = "retrieval"
    relevance_threshold: int = 1
    details: dict[str, Any] = field(default_factory=dict)

    def write(self, folder: Path) -> dict[str, Path]:
        """Write the TSV, qrels and a `benchmark.json` describing them; return the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            "queries": folder / QUERIES_FILE,
            "corpus": folder / CORPUS_FILE,
            "qrels": folder / QRELS_FILE,
        }
        self.queries[["q_id", "jobtitle"]].to_csv(paths["queries"], sep="\t", index=False)
        self.corpus[["c_id", "jobtitle"]].to_csv(paths["corpus"], sep="\t", index=False)
        lines = (
            self.qrels["q_id"]
            + " 0 "
            + self.qrels["c_id"]
            + " "
            + self.qrels["relevance"].astype(str)
        )
        paths["qrels"].write_text("\n".join(lines) + "\n")
        description = {
            "name": self.name,
            "relevance_threshold": self.relevance_threshold,
            "n_queries": len(self.queries),
            "n_corpus": len(self.corpus),
            "n_qrels": len(self.qrels),
            **self.details,
        }
        (folder / "benchmark.json").write_text(json.dumps(description, indent=2) + "\n")
        return paths


def _clean_title(text: str) -> str:
    return " ".join(text.split())


def read_titles_tsv(path: Path, id_column: str) -> pd.DataFrame:
    """Read `<id_column><TAB>jobtitle` with a header; errors name the file and line."""
    path = Path(path)
    lines = _read_lines(path)
    expected = [id_column, "jobtitle"]
    header = lines[0].rstrip("\r\n").split("\t") if lines else []
    if header != expected:
        raise DataError(f"{path}:1: header must be {'<TAB>'.join(expected)!r}, found {header}")
    ids: list[str] = []
    titles: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        fields = text.split("\t")
        if len(fields) != 2:
            raise DataError(
                f"{path}:{number}: expected 2 tab-separated fields, found {len(fields)}"
            )
        row_id, title = fields[0].strip(), _clean_title(fields[1])
        if not row_id or not title:
            raise DataError(f"{path}:{number}: empty {id_column if not row_id else 'jobtitle'}")
        if row_id in seen:
            raise DataError(
                f"{path}:{number}: duplicate {id_column} {row_id!r} (first on line {seen[row_id]})"
            )
        seen[row_id] = number
        ids.append(row_id)
        titles.append(title)
    if not ids:
        raise DataError(f"{path}: no rows after the header")
    return pd.DataFrame({id_column: ids, "jobtitle": titles})


def read_qrels(path: Path) -> pd.DataFrame:
    """Read TREC qrels (`q_id 0 c_id relevance`); errors name the file and line."""
    path = Path(path)
    q_ids: list[str] = []
    c_ids: list[str] = []
    grades: list[int] = []
    seen: dict[tuple[str, str], int] = {}
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise DataError(
                f"{path}:{number}: expected 4 whitespace-separated fields "
                f"'q_id 0 c_id relevance', found {len(fields)}"
            )
        try:
            grade = int(fields[3])
        except ValueError:
            raise DataError(
                f"{path}:{number}: relevance must be an integer, found {fields[3]!r}"
            ) from None
        key = (fields[0], fields[2])
        if key in seen:
            raise DataError(
                f"{path}:{number}: duplicate judgement of {key} (first on line {seen[key]})"
            )
        seen[key] = number
        q_ids.append(fields[0])
        c_ids.append(fields[2])
        grades.append(grade)
    if not q_ids:
        raise DataError(f"{path}: no judgements")
    return pd.DataFrame(
        {"q_id": q_ids, "c_id": c_ids, "relevance": np.array(grades, dtype=np.int64)}
    )


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"missing file {path}")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc


def load_retrieval_data(
    queries: Path,
    corpus: Path,
    qrels: Path,
    *,
    relevance_threshold: int = 1,
    name: str | None = None,
) -> RetrievalData:
    """Read the three files and check that every judged id exists."""
    query_frame = read_titles_tsv(queries, "q_id")
    corpus_frame = read_titles_tsv(corpus, "c_id")
    qrels_frame = read_qrels(qrels)
    for column, frame, path in (("q_id", query_frame, queries), ("c_id", corpus_frame, corpus)):
        unknown = ~qrels_frame[column].isin(frame[column])
        if unknown.any():
            example = qrels_frame.loc[unknown, column].iloc[0]
            raise DataError(
                f"{qrels}: {int(unknown.sum())} judgements name a {column} missing from {path}, "
                f"e.g. {example!r}"
            )
    return RetrievalData(
        query_frame,
        corpus_frame,
        qrels_frame,
        name=name or Path(queries).parent.name or "retrieval",
        relevance_threshold=relevance_threshold,
    )


class TitleScorer(Protocol):
    """Scores queries against a corpus it was fitted on; higher is more similar."""

    def fit(self, corpus: Sequence[str]) -> TitleScorer: ...

    def score(self, queries: Sequence[str]) -> np.ndarray: ...


class TfidfScorer:
    """Cosine over char (2-4, within words) and word (1-2) n-gram TF-IDF fitted on the corpus.

    Char n-grams catch abbreviations and inflections ("Mgr", "nursing"); word n-grams keep
    multi-word titles from matching on shared fragments alone.
    """

    def fit(self, corpus: Sequence[str]) -> TfidfScorer:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        self.vectorizer_ = FeatureUnion(
            [
                (
                    "char",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True),
                ),
                ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)),
            ]
        )
        self.docs_ = _l2_normalize_sparse(self.vectorizer_.fit_transform(list(corpus)))
        return self

    def score(self, queries: Sequence[str]) -> np.ndarray:
        vectors = _l2_normalize_sparse(self.vectorizer_.transform(list(queries)))
        return (vectors @ self.docs_.T).toarray().astype(np.float32)


def _l2_normalize_sparse(matrix: Any) -> Any:
    from sklearn.preprocessing import normalize

    return normalize(matrix, norm="l2", axis=1)


class DenseScorer:
    """Cosine between title embeddings (the encoder's vectors are unit length)."""

    def __init__(self, encoder: Any):
        self.encoder = encoder

    def fit(self, corpus: Sequence[str]) -> DenseScorer:
        self.docs_ = self.encoder.encode(list(corpus))
        return self

    def score(self, queries: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(list(queries)) @ self.docs_.T


def make_scorer(spec: str) -> TitleScorer:
    """`tfidf`, `base` or an encoder folder."""
    if spec == TFIDF:
        return TfidfScorer()
    from recsys.recall.encoder import TitleEncoder

    return DenseScorer(TitleEncoder.load(spec))


def retrieve(scorer: TitleScorer, queries: Sequence[str], depth: int) -> np.ndarray:
    """Corpus row ids of the top `depth` documents per query, best first."""
    results = []
    for start in range(0, len(queries), _SCORE_CHUNK):
        scores = scorer.score(queries[start : start + _SCORE_CHUNK])
        k = min(depth, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        results.append(np.take_along_axis(top, order, axis=1))
    return np.concatenate(results) if results else np.empty((0, depth), dtype=np.int64)


@dataclass
class ModelEvaluation:
    """One model's per-query metric values (aligned with `query_ids`) and how long it took."""

    model: str
    query_ids: np.ndarray
    per_query: dict[str, np.ndarray]
    seconds: float

    def summary(self) -> dict[str, Any]:
        """Means over queries, keyed exactly as SUMMARY_KEYS."""
        out: dict[str, Any] = {"model": self.model}
        out.update({name: round(float(self.per_query[name].mean()), 4) for name in METRICS})
        out["n_queries"] = int(self.query_ids.size)
        return out


@dataclass(frozen=True)
class _Judgements:
    """Qrels as sorted integer keys (query row * n_docs + doc row) for vectorised lookup."""

    keys: np.ndarray
    grades: np.ndarray
    n_relevant: np.ndarray
    ideal: np.ndarray
    query_rows: np.ndarray
    n_docs: int

    def gather(self, ranked: np.ndarray) -> np.ndarray:
        """Grades of the ranked documents; ranked[i] belongs to query row query_rows[i]."""
        wanted = self.query_rows[:, None].astype(np.int64) * self.n_docs + ranked
        pos = np.clip(np.searchsorted(self.keys, wanted), 0, len(self.keys) - 1)
        return np.where(self.keys[pos] == wanted, self.grades[pos], 0)


def _judgements(data: RetrievalData, ideal_depth: int) -> _Judgements:
    q_row = pd.Series(np.arange(len(data.queries)), index=data.queries["q_id"])
    c_row = pd.Series(np.arange(len(data.corpus)), index=data.corpus["c_id"])
    qrels = data.qrels.assign(
        q=q_row.reindex(data.qrels["q_id"]).to_numpy(),
        c=c_row.reindex(data.qrels["c_id"]).to_numpy(),
    )
    relevant = qrels[qrels["relevance"] >= data.relevance_threshold]
    counts = relevant.groupby("q").size()
    query_rows = counts.index.to_numpy(dtype=np.int64)
    n_docs = len(data.corpus)
    keys = qrels["q"].to_numpy(np.int64) * n_docs + qrels["c"].to_numpy(np.int64)
    order = np.argsort(keys)
    positive = qrels[(qrels["relevance"] > 0) & qrels["q"].isin(query_rows)]
    positive = positive.sort_values(["q", "relevance"], ascending=[True, False])
    rank = positive.groupby("q").cumcount().to_numpy()
    slot = pd.Series(np.arange(len(query_rows)), index=query_rows).reindex(positive["q"]).to_numpy()
    ideal = np.zeros((len(query_rows), ideal_depth), dtype=np.int64)
    keep = rank < ideal_depth
    ideal[slot[keep], rank[keep]] = positive["relevance"].to_numpy()[keep]
    return _Judgements(
        keys=keys[order],
        grades=qrels["relevance"].to_numpy(np.int64)[order],
        n_relevant=counts.to_numpy(np.int64),
        ideal=ideal,
        query_rows=query_rows,
        n_docs=n_docs,
    )


def score_ranking(
    grades: np.ndarray, judgements: _Judgements, threshold: int
) -> dict[str, np.ndarray]:
    """Per-query metrics from the grades of the ranked documents (queries x depth)."""
    n_rel = judgements.n_relevant
    return {
        "map": metrics.average_precision(grades, n_rel, threshold),
        "mrr": metrics.reciprocal_rank(grades, threshold),
        "ndcg@10": metrics.ndcg_at_k(grades, judgements.ideal, 10),
        "recall@10": metrics.recall_at_k(grades, n_rel, 10, threshold),
        "recall@100": metrics.recall_at_k(grades, n_rel, 100, threshold),
    }


ProgressCallback = Callable[[str, str], None]


def evaluate_retrieval(
    data: RetrievalData,
    models: Sequence[str],
    *,
    depth: int = 1000,
    scorers: dict[str, TitleScorer] | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[ModelEvaluation]:
    """Evaluate each model spec on `data`; `scorers` may supply already-built scorers by spec."""
    if not models:
        raise ValueError("name at least one model to evaluate")
    judgements = _judgements(data, ideal_depth=10)
    if judgements.query_rows.size == 0:
        raise DataError(
            f"{data.name}: no query has a judgement of relevance >= {data.relevance_threshold}"
        )
    query_titles = data.queries["jobtitle"].to_numpy()[judgements.query_rows].tolist()
    corpus_titles = data.corpus["jobtitle"].tolist()
    query_ids = data.queries["q_id"].to_numpy()[judgements.query_rows]
    results = []
    for spec in models:
        started = time.perf_counter()
        if on_progress:
            on_progress(spec, "encoding corpus")
        scorer = (scorers or {}).get(spec) or make_scorer(spec)
        scorer.fit(corpus_titles)
        if on_progress:
            on_progress(spec, "retrieving")
        ranked = retrieve(scorer, query_titles, depth)
        per_query = score_ranking(judgements.gather(ranked), judgements, data.relevance_threshold)
        results.append(ModelEvaluation(spec, query_ids, per_query, time.perf_counter() - started))
        if on_progress:
            on_progress(spec, "done")
    return results


def evaluate_models(
    data: RetrievalData, models: Sequence[str], **kwargs: Any
) -> list[dict[str, Any]]:
    """Summaries (keys SUMMARY_KEYS) of `evaluate_retrieval`, one per model, in order."""
    return [result.summary() for result in evaluate_retrieval(data, models, **kwargs)]


def paired_comparison(
    model: ModelEvaluation,
    baseline: ModelEvaluation,
    *,
    metric: str = "ndcg@10",
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean difference `model - baseline` on a per-query metric and its two-sided p-values."""
    a, b = model.per_query[metric], baseline.per_query[metric]
    return {
        "model": model.model,
        "baseline": baseline.model,
        "metric": metric,
        "mean_difference": round(float((a - b).mean()), 4),
        "p_randomization": paired_randomization_test(a, b, n_resamples=n_resamples, seed=seed),
        "p_ttest": paired_t_test(a, b),
    }


def compare_to_baseline(
    results: Sequence[ModelEvaluation], *, metric: str = "ndcg@10", **kwargs: Any
) -> list[dict[str, Any]]:
    """`paired_comparison` of every model against the first one."""
    return [paired_comparison(other, results[0], metric=metric, **kwargs) for other in results[1:]]
