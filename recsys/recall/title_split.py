"""Which O*NET title strings train the encoder and which are held out to evaluate it.

The split is by title string, not by (title, occupation) pair: a held-out title never appears
in training, neither as anchor nor as positive, under any occupation. Splitting pairs instead
would let the model see "Data Wrangler" with one occupation and be tested on it with another,
which measures memory, not generalisation. The split is a pure function of the taxonomy and
the seed, so training and the built-in benchmark agree without passing files around.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.taxonomy import Taxonomy

_SPACES = re.compile(r"\s+")


def normalize_title(title: str) -> str:
    """Case- and whitespace-insensitive key of a title (the encoder's tokenizer is uncased)."""
    return _SPACES.sub(" ", title).strip().casefold()


@dataclass(frozen=True)
class TitleSplit:
    """Training and held-out (title, occupation) rows; column `key` is the normalised title."""

    train: pd.DataFrame
    heldout: pd.DataFrame
    seed: int
    heldout_fraction: float
    max_title_occupations: int
    n_ambiguous_titles: int

    @property
    def digest(self) -> str:
        """Hash of the held-out title keys; a benchmark and a model agree only if this does."""
        keys = "\n".join(sorted(self.heldout["key"].unique()))
        return hashlib.sha256(keys.encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """Counts and parameters recorded in the encoder's metadata."""
        return {
            "seed": self.seed,
            "heldout_fraction": self.heldout_fraction,
            "max_title_occupations": self.max_title_occupations,
            "train_titles": int(self.train["key"].nunique()),
            "train_pairs": len(self.train),
            "heldout_titles": int(self.heldout["key"].nunique()),
            "heldout_pairs": len(self.heldout),
            "ambiguous_titles_dropped": self.n_ambiguous_titles,
            "digest": self.digest,
        }


def split_titles(
    taxonomy: Taxonomy,
    *,
    heldout_fraction: float = 0.1,
    seed: int = 42,
    max_title_occupations: int = 3,
) -> TitleSplit:
    """Hold out a random fraction of the alternate-title strings.

    Occupation titles always stay in training: they are the anchors every occupation needs.
    Titles shared by more than `max_title_occupations` occupations ("Manager", "Technician") are
    dropped from both sides: no single place in the space is right for them, so as training
    pairs they only pull unrelated occupations together, and as queries they have no answer.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    pairs = taxonomy.title_pairs()
    pairs["key"] = pairs["title"].map(normalize_title)
    pairs = pairs.drop_duplicates(["key", "code"]).reset_index(drop=True)
    n_codes = pairs.groupby("key")["code"].transform("nunique")
    ambiguous = n_codes > max_title_occupations
    is_primary_key = pairs["key"].isin(pairs.loc[pairs["source"] == "title", "key"])
    ambiguous &= ~is_primary_key
    candidates = np.sort(pairs.loc[~ambiguous & ~is_primary_key, "key"].unique())
    rng = np.random.default_rng(seed)
    n_heldout = int(round(heldout_fraction * len(candidates)))
    heldout_keys = set(rng.permutation(candidates)[:n_heldout].tolist())
    is_heldout = pairs["key"].isin(heldout_keys)
    keep = ~ambiguous
    return TitleSplit(
        train=pairs[keep & ~is_heldout].reset_index(drop=True),
        heldout=pairs[keep & is_heldout].reset_index(drop=True),
        seed=seed,
        heldout_fraction=heldout_fraction,
        max_title_occupations=max_title_occupations,
        n_ambiguous_titles=int(pairs.loc[ambiguous, "key"].nunique()),
    )


def heldout_esco_occupations(concept_uris: pd.Series, *, fraction: float, seed: int) -> set[str]:
    """ESCO occupations kept out of training entirely, so the `esco` benchmark asks about
    occupations the encoder never saw under any label (generalisation, not memory).

    A pure function of the occupation set and the seed, like `split_titles`.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"ESCO held-out fraction must be in [0, 1), got {fraction}")
    uris = np.sort(concept_uris.unique())
    rng = np.random.default_rng(seed)
    return set(rng.permutation(uris)[: int(round(fraction * len(uris)))].tolist())
