"""Infers the O*NET occupation of any title: the occupation of its nearest O*NET title.

Every O*NET occupation title and alternate title (about 57k) is embedded once per encoder; a
title's occupation is that of its nearest neighbour among them. Measured on a simulated catalog
of decorated posting titles ("Sr. Payroll Clerk II (Remote)") with the base encoder, the nearest
title was the right occupation for 79% of jobs, against 41% for the nearest of 1,016 occupation
centroids: occupations are too fine-grained and their titles too varied for one point each.

Skills break ties between occupations whose titles look alike ("Web Developer" vs "Web and
Digital Interface Designer"). Every occupation gets a title score, the cosine of its nearest
title among the `CANDIDATES` nearest O*NET titles (for an occupation with none of them, the
farthest of those: its titles are no nearer), plus `SKILL_WEIGHT` x the log-likelihood of the
row's skills under the occupation, naive Bayes over its O*NET skill list: each listed skill has
probability (1 - `SKILL_SMOOTHING`) / list size, any other `SKILL_SMOOTHING` / vocabulary size.
The best total wins. The earlier rule scored only the candidates' occupations, by cosine plus the
share of the row's skills the occupation lists; that share cannot tell two occupations apart when
both list every skill, so one listing 400-600 skills (Software Developers: 426) won as often as
one listing 12 whose list the posting matches, and it never reached an occupation whose titles
were not near. On two simulated markets (seeds 42 and 7, base encoder) the new rule coded 97.3%
and 97.3% of postings right (the share rule with 64 titles: 94.1%, 93.7%) and 97.7% / 97.5% of
seekers (the share rule with the seekers' former 32 titles and weight .5: 92.5%, 94.0%), with one
setting for both (`benchmarks/occupation_accuracy.py`). Without skills it is the nearest title
alone. Occupations already stored with a catalog keep the codes of the settings they were
derived under until they are re-derived (`CODER_VERSION` is part of the catalog cache key).

The title vectors sit in a FAISS HNSW graph (one query is ~0.1 ms; a 100k-job catalog is classified
in seconds) and are cached on disk under the encoder fingerprint, since another encoder needs
other vectors; the graph is cached next to them (building it takes ~10 s on two cores, reading it
a fraction of a second) and rebuilt when it does not hold exactly those vectors. Titles shared by
more than `MAX_TITLE_OCCUPATIONS` occupations ("Manager") are left out: their nearest-neighbour
vote would be arbitrary.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.taxonomy import Taxonomy
from recsys.recall.encoder import ProgressCallback, TitleEncoder
from recsys.recall.title_split import normalize_title

MAX_TITLE_OCCUPATIONS = 3
CANDIDATES = 64
SKILL_WEIGHT = 0.02
#: the share of a row's skills the naive-Bayes evidence expects from outside the occupation's list
SKILL_SMOOTHING = 0.03
#: rows scored against every occupation at once (a rows x occupations float32 block each)
CLASSIFY_CHUNK = 2_048
#: bumped when the coder's rule changes, so that caches keyed on the settings re-derive
CODER_VERSION = "nb1"
HNSW_M = 32
HNSW_EF_SEARCH = 64


def taxonomy_titles(taxonomy: Taxonomy) -> pd.DataFrame:
    """(title, occupation index) pairs to classify against, ambiguous titles dropped."""
    pairs = taxonomy.title_pairs()
    pairs["key"] = pairs["title"].map(normalize_title)
    pairs = pairs.drop_duplicates(["key", "code"])
    shared = pairs.groupby("key")["code"].transform("nunique") > MAX_TITLE_OCCUPATIONS
    pairs = pairs[~shared | (pairs["source"] == "title")]
    occupation = pd.Series(np.arange(len(taxonomy)), index=taxonomy.codes)
    return pd.DataFrame(
        {
            "title": pairs["title"].to_numpy(),
            "occupation": occupation.reindex(pairs["code"]).to_numpy(np.int32),
        }
    )


class OccupationIndex:
    """Nearest-O*NET-title occupation classifier over one encoder's space."""

    def __init__(
        self,
        vectors: np.ndarray,
        occupation: np.ndarray,
        fingerprint: str,
        occupation_skills: sp.csr_matrix | None = None,
        graph: faiss.IndexHNSWFlat | None = None,
    ):
        """`graph`: an HNSW graph already built over exactly `vectors` (see `load_or_build`);
        None builds one."""
        self.occupation_skills = occupation_skills
        if occupation_skills is not None:
            listed = np.maximum(np.asarray(occupation_skills.sum(axis=1)).ravel(), 1.0)
            self._log_listed = np.log((1.0 - SKILL_SMOOTHING) / listed).astype(np.float32)
            self._log_unlisted = float(np.log(SKILL_SMOOTHING / occupation_skills.shape[1]))
            self._skills_by_occupation = sp.csr_matrix(occupation_skills.T, dtype=np.float32)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.occupation = np.asarray(occupation, dtype=np.int32)
        self.fingerprint = fingerprint
        if graph is None:
            graph = faiss.IndexHNSWFlat(self.vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
            graph.add(self.vectors)
        graph.hnsw.efSearch = HNSW_EF_SEARCH
        self._index = graph

    @classmethod
    def build(
        cls,
        encoder: TitleEncoder,
        taxonomy: Taxonomy,
        on_progress: ProgressCallback | None = None,
    ) -> OccupationIndex:
        titles = taxonomy_titles(taxonomy)
        vectors = encoder.encode(titles["title"].tolist(), on_progress=on_progress)
        return cls(vectors, titles["occupation"].to_numpy(), encoder.fingerprint, _skills(taxonomy))

    @classmethod
    def load_or_build(
        cls,
        encoder: TitleEncoder,
        taxonomy: Taxonomy,
        cache_dir: Path,
        on_progress: ProgressCallback | None = None,
    ) -> OccupationIndex:
        path = Path(cache_dir) / f"occupation_titles_{encoder.fingerprint[:16]}.npz"
        graph_path = path.with_suffix(".hnsw")
        if path.exists():
            saved = np.load(path)
            vectors = np.ascontiguousarray(saved["vectors"], dtype=np.float32)
            graph = _read_graph(graph_path, vectors)
            index = cls(vectors, saved["occupation"], encoder.fingerprint, _skills(taxonomy), graph)
            if graph is None:
                _write_graph(index._index, graph_path)
            return index
        index = cls.build(encoder, taxonomy, on_progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, vectors=index.vectors, occupation=index.occupation)
        tmp.replace(path)
        _write_graph(index._index, graph_path)
        return index

    def classify(
        self,
        vectors: np.ndarray,
        skills: sp.csr_matrix | None = None,
        candidates: int = CANDIDATES,
        skill_weight: float = SKILL_WEIGHT,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(occupation index, score) for each row of `vectors`: the nearest O*NET title's
        occupation, or with `skills` (binary rows over the taxonomy's skill vocabulary) the
        occupation with the best title score over the `candidates` nearest titles +
        `skill_weight` x the skills' log-likelihood (module docstring). Postings and seekers are
        coded alike, so both sides of a pair are compared in the same terms."""
        vectors = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        if len(vectors) == 0:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        if skills is None or self.occupation_skills is None:
            score, title = self._index.search(vectors, 1)
            return self.occupation[title[:, 0]], score[:, 0]
        cosine, title = self._index.search(vectors, candidates)
        skills = sp.csr_matrix(skills, dtype=np.float32)
        occupation = np.empty(len(vectors), np.int32)
        score = np.empty(len(vectors), np.float32)
        for lo in range(0, len(vectors), CLASSIFY_CHUNK):
            hi = lo + CLASSIFY_CHUNK
            total = self._evidence(cosine[lo:hi], title[lo:hi], skills[lo:hi], skill_weight)
            occupation[lo:hi] = total.argmax(axis=1)
            score[lo:hi] = total[np.arange(len(total)), occupation[lo:hi]]
        return occupation, score

    def _evidence(
        self, cosine: np.ndarray, title: np.ndarray, skills: sp.csr_matrix, skill_weight: float
    ) -> np.ndarray:
        """(rows x occupations) title score + `skill_weight` x skill log-likelihood."""
        assert self.occupation_skills is not None
        found = title >= 0
        floor = np.where(found, cosine, np.inf).min(axis=1)
        floor = np.where(np.isfinite(floor), floor, -1.0).astype(np.float32)
        total = np.repeat(floor[:, None], self.occupation_skills.shape[0], axis=1)
        rows = np.broadcast_to(np.arange(len(title))[:, None], title.shape)
        np.maximum.at(total, (rows[found], self.occupation[title[found]]), cosine[found])
        shared = (skills @ self._skills_by_occupation).toarray()
        n_skills = np.diff(skills.indptr).astype(np.float32)[:, None]
        loglik = shared * self._log_listed + (n_skills - shared) * self._log_unlisted
        total += np.float32(skill_weight) * loglik
        return total

    def nearest(self, vectors: np.ndarray, n: int = 3) -> list[list[tuple[int, float]]]:
        """Up to `n` distinct occupations per row, best first, with their best title's cosine."""
        vectors = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        score, title = self._index.search(vectors, 16 * n)
        out = []
        for row_scores, row_titles in zip(score, title):
            keep = row_titles >= 0
            occ = self.occupation[row_titles[keep]]
            _, first = np.unique(occ, return_index=True)
            first = np.sort(first)[:n]
            out.append(list(zip(occ[first].tolist(), row_scores[keep][first].tolist())))
        return out


def _read_graph(path: Path, vectors: np.ndarray) -> faiss.IndexHNSWFlat | None:
    """The HNSW graph saved at `path` when it holds exactly `vectors`; None when it is missing,
    unreadable or was built over other vectors."""
    if not path.exists():
        return None
    try:
        graph = faiss.read_index(str(path))
    except RuntimeError:
        return None
    if not isinstance(graph, faiss.IndexHNSWFlat) or graph.ntotal != len(vectors):
        return None
    if not np.array_equal(graph.storage.reconstruct_n(0, graph.ntotal), vectors):
        return None
    return graph


def _write_graph(graph: faiss.Index, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    faiss.write_index(graph, str(tmp))
    tmp.replace(path)


def _skills(taxonomy: Taxonomy) -> sp.csr_matrix:
    """Occupations x skill vocabulary, binary: the skills O*NET lists for each occupation."""
    return taxonomy.skill_matrix(taxonomy.skills_for(code) for code in taxonomy.codes)
