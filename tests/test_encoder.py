"""The title encoder: ONNX agrees with torch, the cache, self-describing folders, the split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recsys.data.taxonomy import Taxonomy
from recsys.recall.encoder import METADATA_FILE, EncoderError, TitleEncoder, read_metadata
from recsys.recall.encoder_training import TripletSampler, train_encoder
from recsys.recall.title_split import split_titles

TITLES = ["React Developer", "JavaScript Engineer", "Registered Nurse", "ICU RN - Night Shift"]


@pytest.fixture(scope="module")
def base() -> TitleEncoder:
    return TitleEncoder.load("base")


def test_onnx_matches_torch(base: TitleEncoder) -> None:
    assert base.backend == "onnx"
    torch_encoder = TitleEncoder.load("base", backend="torch", cache_size=0)
    a, b = base.encode(TITLES), torch_encoder.encode(TITLES)
    assert a.shape == (4, 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.9999


def test_related_titles_land_together(base: TitleEncoder) -> None:
    v = base.encode(TITLES)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert v[2] @ v[3] > v[2] @ v[0]


def test_cache_returns_the_same_vectors(base: TitleEncoder) -> None:
    first = base.encode(["Data Scientist"])
    assert base.cache_len >= 1
    again = base.encode(["Data Scientist", "Data Scientist"])
    assert np.array_equal(again[0], first[0]) and np.array_equal(again[1], first[0])
    assert base.encode([]).shape == (0, base.dim)


def test_split_holds_out_titles_not_pairs(taxonomy: Taxonomy) -> None:
    split = split_titles(taxonomy, heldout_fraction=0.1, seed=1)
    assert not set(split.train["key"]) & set(split.heldout["key"])
    assert split.describe()["heldout_titles"] > 1000
    assert split.digest == split_titles(taxonomy, heldout_fraction=0.1, seed=1).digest


def test_sampler_batches_have_distinct_occupations(taxonomy: Taxonomy) -> None:
    split = split_titles(taxonomy, seed=1)
    batch = TripletSampler(taxonomy, split.train, seed=3).sample(32)
    assert len(set(batch.occupation.tolist())) == 32
    assert (batch.occupation != batch.negative_occupation).all()
    assert all(a != p for a, p in zip(batch.anchors, batch.positives))


def test_train_writes_a_self_describing_folder(taxonomy: Taxonomy, tmp_path: Path) -> None:
    out = train_encoder(
        taxonomy, tmp_path / "enc", budget_steps=2, batch_size=8, device="cpu", evaluate=False
    )
    meta = read_metadata(out)
    assert meta["trained"] and meta["training"]["steps"] == 2
    assert meta["onnx"]["min_cosine_vs_torch"] > 0.999
    assert (out / "benchmark" / "qrels.txt").is_file()
    encoder = TitleEncoder.load(out)
    assert encoder.fingerprint == meta["fingerprint"] and encoder.dim == 384
    assert not (tmp_path / "enc.partial").exists()


def test_tampered_or_missing_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="no encoder folder"):
        TitleEncoder.load(tmp_path / "nothing")
    folder = tmp_path / "fake"
    folder.mkdir()
    with pytest.raises(EncoderError, match=METADATA_FILE):
        read_metadata(folder)
    (folder / METADATA_FILE).write_text(json.dumps({"fingerprint": "x", "dim": 1}))
    with pytest.raises(EncoderError, match="max_seq_length"):
        read_metadata(folder)
