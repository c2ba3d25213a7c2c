"""Where the encoder's training titles come from: occupation groups (O*NET or ESCO) sampled
into anchor / positive / hard-negative batches, one source per step, anchors decorated like
real postings. Kept apart from the training loop so the loop reads as optimisation only."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recsys.data.taxonomy import Taxonomy
from recsys.recall.title_noise import TitleNoiser


@dataclass(frozen=True)
class TitleBatch:
    """Titles of one step, row i of each list from occupation `occupation[i]` (negatives aside)."""

    anchors: list[str]
    positives: list[str]
    negatives: list[str]
    occupation: np.ndarray
    negative_occupation: np.ndarray


def hierarchy_pools(
    level_ids: list[np.ndarray], related: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """CSR (offsets, members) of each group's hard-negative groups, from a hierarchy.

    `level_ids` go from the finest level up; the finest level's siblings (plus `related`) always
    count, coarser levels only for groups that still have none, and a group with none at any
    level may draw any other group, so every group has a near miss to learn from.
    """
    n = len(level_ids[0])
    eye = np.eye(n, dtype=bool)
    pool = np.zeros((n, n), dtype=bool) if related is None else related.copy()
    for depth, ids in enumerate(level_ids):
        same: np.ndarray = ids[:, None] == ids[None, :]
        empty = np.logical_not((pool & ~eye).any(axis=1))
        pool = pool | same if depth == 0 else pool | (same & empty[:, None])
    pool &= ~eye
    empty = np.logical_not(pool.any(axis=1))
    pool[empty] = ~eye[empty]
    row, member = np.nonzero(pool)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n))])
    return offsets, member


def neighbour_pools(taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    """O*NET hard negatives: related occupations and SOC broad, then minor, then major group."""
    n = len(taxonomy)
    related = np.zeros((n, n), dtype=bool)
    rows = [
        (i, taxonomy.index[r])
        for i, o in enumerate(taxonomy.occupations)
        for r in o.related
        if r in taxonomy.index
    ]
    if rows:
        a, b = np.array(rows).T
        related[a, b] = related[b, a] = True
    levels = [taxonomy.level_ids(level) for level in ("broad", "minor", "major")]
    return hierarchy_pools(levels, related)


class GroupSampler:
    """Draws TitleBatch-es from titles grouped by occupation; vectorised, seeded, no loops."""

    def __init__(
        self,
        titles: np.ndarray,
        group: np.ndarray,
        pools: tuple[np.ndarray, np.ndarray],
        rng: np.random.Generator,
    ):
        if np.any(np.bincount(group, minlength=len(pools[0]) - 1) == 0):
            raise ValueError("every group needs a title: a titleless group cannot be a negative")
        order = np.argsort(group, kind="stable")
        self.titles = np.asarray(titles)[order]
        n_groups = len(pools[0]) - 1
        counts = np.bincount(np.asarray(group)[order], minlength=n_groups)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.counts = counts
        self.anchor_occupations = np.flatnonzero(counts >= 2)
        self.pool_offsets, self.pool_members = pools
        self.rng = rng
        if self.anchor_occupations.size < 2:
            raise ValueError("need at least two occupations with two training titles each")

    def sample(self, batch_size: int) -> TitleBatch:
        size = min(batch_size, self.anchor_occupations.size)
        occ = self.rng.choice(self.anchor_occupations, size=size, replace=False)
        count = self.counts[occ]
        first = self.rng.integers(0, count)
        second = (first + 1 + self.rng.integers(0, count - 1)) % count
        pool_size = self.pool_offsets[occ + 1] - self.pool_offsets[occ]
        neg_occ = self.pool_members[self.pool_offsets[occ] + self.rng.integers(0, pool_size)]
        neg = self.offsets[neg_occ] + self.rng.integers(0, self.counts[neg_occ])
        return TitleBatch(
            anchors=self.titles[self.offsets[occ] + first].tolist(),
            positives=self.titles[self.offsets[occ] + second].tolist(),
            negatives=self.titles[neg].tolist(),
            occupation=occ,
            negative_occupation=neg_occ,
        )


class TripletSampler(GroupSampler):
    """O*NET training titles grouped by occupation, negatives from `neighbour_pools`."""

    def __init__(self, taxonomy: Taxonomy, train: pd.DataFrame, seed: int):
        occ = pd.Series(np.arange(len(taxonomy)), index=taxonomy.codes)
        frame = train.sort_values(["code", "key"])
        super().__init__(
            frame["title"].to_numpy(),
            occ.reindex(frame["code"]).to_numpy(),
            neighbour_pools(taxonomy),
            np.random.default_rng(seed),
        )


def esco_sampler(labels: pd.DataFrame, seed: int) -> GroupSampler:
    """ESCO labels (rows of `read_esco_labels`) grouped by occupation; ISCO-graded negatives."""
    occupations = labels.drop_duplicates("conceptUri").sort_values("conceptUri")
    group = pd.Series(np.arange(len(occupations)), index=occupations["conceptUri"])
    isco = occupations["iscoGroup"].astype(str)
    levels = [pd.factorize(isco.str.slice(0, n))[0] for n in (4, 3, 2)]
    return GroupSampler(
        labels["label"].to_numpy(),
        group.reindex(labels["conceptUri"]).to_numpy(),
        hierarchy_pools(levels),
        np.random.default_rng(seed + 1),
    )


class TrainingBatches:
    """Picks a source per step by weight and decorates its anchors; what `fit` draws from."""

    def __init__(
        self,
        sources: list[tuple[str, GroupSampler, float]],
        noiser: TitleNoiser | None,
        seed: int,
    ):
        weights = np.array([w for _, _, w in sources if w > 0], dtype=float)
        self.sources = [(name, sampler) for name, sampler, w in sources if w > 0]
        if not self.sources:
            raise ValueError("no training source has a positive weight")
        self.weights = weights / weights.sum()
        self.noiser = noiser
        self.rng = np.random.default_rng(seed + 2)
        self.drawn = {name: 0 for name, _ in self.sources}

    def sample(self, batch_size: int) -> TitleBatch:
        name, sampler = self.sources[int(self.rng.choice(len(self.sources), p=self.weights))]
        self.drawn[name] += 1
        batch = sampler.sample(batch_size)
        if self.noiser is None:
            return batch
        return replace(batch, anchors=self.noiser(batch.anchors))
