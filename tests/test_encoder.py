"""The title encoder: ONNX agrees with torch, the cache, self-describing folders, the split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.data.taxonomy import Taxonomy
from recsys.recall import encoder as encoder_module
from recsys.recall.encoder import METADATA_FILE, EncoderError, TitleEncoder, read_metadata
from recsys.recall.encoder_batches import TripletSampler, esco_sampler, hierarchy_pools
from recsys.recall.encoder_training import (
    TrainingConfig,
    embed_by_length,
    esco_training_labels,
    fit,
    lr_factor,
    own_results,
    train_encoder,
    transformer_layers,
)
from recsys.recall.title_benchmarks import heldout_esco
from recsys.recall.title_noise import TitleNoiser
from recsys.recall.title_split import split_titles

TITLES = ["React Developer", "JavaScript Engineer", "Registered Nurse", "ICU RN - Night Shift"]


@pytest.fixture(scope="module")
def base() -> TitleEncoder:
    """The float graph: its vectors do not depend on the batch (the int8 graph quantises its
    activations per call; tests/test_onnx_int8.py covers it)."""
    return TitleEncoder.load("base", int8=False)


def test_onnx_matches_torch() -> None:
    float_graph = TitleEncoder.load("base", cache_size=0, int8=False)
    assert float_graph.backend == "onnx"
    torch_encoder = TitleEncoder.load("base", backend="torch", cache_size=0)
    a, b = float_graph.encode(TITLES), torch_encoder.encode(TITLES)
    assert a.shape == (4, 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.9999


def _linkedin_titles(data_dir: Path, n: int = 40) -> list[str]:
    """`n` distinct real posting titles, spread from the shortest to the longest tokenised."""
    from recsys.data.linkedin import LINKEDIN_DIR

    posts = pd.read_csv(data_dir / LINKEDIN_DIR / "job_postings.csv", usecols=["title"], nrows=3000)
    distinct = posts["title"].dropna().astype(str).drop_duplicates()
    by_length = distinct.iloc[np.argsort(distinct.str.len().to_numpy(), kind="stable")]
    return by_length.iloc[np.linspace(0, len(by_length) - 1, n).astype(int)].tolist()


def _one_padded_call(encoder: TitleEncoder, titles: list[str]) -> np.ndarray:
    """The encoder's path before bulk batching: one session call over all titles, padded to
    the longest, cut at the model's max_seq_length (256 for base)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(encoder.model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=int(encoder.metadata["max_seq_length"]))
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    encodings = tokenizer.encode_batch(titles)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    session = encoder.embedder.session  # type: ignore[attr-defined]
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return np.asarray(session.run(None, feeds)[0])


def test_bulk_encode_matches_the_one_call_path(
    base: TitleEncoder, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real LinkedIn titles (3 to 38 tokens), repeated: the bulk path (distinct titles, length
    batches, one call per core) gives the old path's vectors, and one title alone the same."""
    titles = _linkedin_titles(data_dir)
    monkeypatch.setattr(encoder_module, "BULK_PARALLEL_MIN", 1)  # bulk on a few dozen titles
    monkeypatch.setattr(encoder_module, "BULK_BATCH_TOKENS", 64)  # several batches
    monkeypatch.setattr(encoder_module, "available_cores", lambda: 2)  # side by side
    asked = titles + titles[::3]
    bulk = TitleEncoder.load("base", cache_size=0, int8=False).encode(asked)
    assert bulk.shape == (len(asked), base.dim) and bulk.dtype == np.float32
    reference = _one_padded_call(base, titles)
    cosine = (bulk[: len(titles)] * reference).sum(axis=1)
    assert cosine.min() >= 0.999, titles[int(cosine.argmin())]
    assert np.array_equal(bulk[len(titles) :], bulk[: len(titles)][::3])
    one_by_one = np.stack([base.encode([t])[0] for t in titles[::8]])
    assert (one_by_one * bulk[: len(titles)][::8]).sum(axis=1).min() >= 0.999


def test_length_batches_respect_the_token_budget() -> None:
    lengths = np.array([2, 3, 3, 5, 8, 8, 20, 64, 70])
    cuts = encoder_module.length_batches(lengths, max_tokens=16)
    assert cuts[0] == 0 and cuts[-1] == len(lengths)
    for start, stop in zip(cuts, cuts[1:], strict=False):
        assert stop > start
        assert (stop - start) * lengths[stop - 1] <= 16 or stop - start == 1
    assert encoder_module.length_batches(lengths, 1000, max_rows=4) == [0, 4, 8, 9]


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


@pytest.mark.slow
def test_train_writes_a_self_describing_folder(taxonomy: Taxonomy, tmp_path: Path) -> None:
    out = train_encoder(
        taxonomy, tmp_path / "enc", budget_steps=2, batch_size=8, device="cpu", evaluate=False
    )
    meta = read_metadata(out)
    assert meta["trained"] and meta["training"]["steps"] == 2
    assert meta["onnx"]["min_cosine_vs_torch"] > 0.999
    assert (out / "benchmark" / "qrels.txt").is_file()
    encoder = TitleEncoder.load(out, int8=False)
    assert encoder.fingerprint == meta["fingerprint"] and encoder.dim == 384
    assert not (tmp_path / "enc.partial").exists()


@pytest.mark.slow
def test_a_minutes_budget_ends_training_on_time(taxonomy: Taxonomy, tmp_path: Path) -> None:
    out = train_encoder(
        taxonomy, tmp_path / "enc", budget_minutes=0.005, batch_size=4, device="cpu", evaluate=False
    )
    meta = read_metadata(out)
    assert meta["training"]["stopped_by"] == "minutes"
    assert meta["training"]["steps"] < 100  # not the million-step ceiling a minutes budget sets
    assert meta["esco_split"]["used"] and meta["esco_split"]["heldout_occupations"] > 100


def test_own_results_are_the_row_named_after_the_model() -> None:
    """train_encoder names its row after metadata["name"] (a dated release folder, not always
    `encoder`); the release reads it back by that name."""
    rows = [
        {"model": "base", "ndcg@10": 0.2},
        {"model": "tfidf", "ndcg@10": 0.1},
        {"model": "2026-01-04", "ndcg@10": 0.3},
    ]
    meta = {"name": "2026-01-04", "evaluation": {"results": rows}}
    assert own_results(meta)["ndcg@10"] == 0.3
    with pytest.raises(ValueError, match="no results of its own"):
        own_results({**meta, "name": "encoder"})
    with pytest.raises(ValueError, match="not evaluated"):
        own_results({**meta, "evaluation": None})


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


def test_lr_schedule_warms_up_then_decays_to_zero() -> None:
    assert lr_factor(0.0, 0.1) == pytest.approx(0.01)
    assert lr_factor(0.05, 0.1) == pytest.approx(0.5)
    assert lr_factor(0.1, 0.1) == pytest.approx(1.0)
    assert lr_factor(0.55, 0.1) == pytest.approx(0.5)
    assert lr_factor(1.0, 0.1) == 0.0


def test_hierarchy_pools_prefer_the_finest_siblings() -> None:
    unit = np.array([0, 0, 1, 2, 2])
    minor = np.array([0, 0, 0, 1, 1])
    offsets, members = hierarchy_pools([unit, minor])
    pools = [set(members[offsets[i] : offsets[i + 1]].tolist()) for i in range(5)]
    # 0/1 and 3/4 share a unit group; 2 has no unit sibling, so it falls back to its minor group.
    assert pools == [{1}, {0}, {0, 1}, {4}, {3}]


def test_esco_training_holds_out_whole_occupations(data_dir: Path) -> None:
    labels, heldout = esco_training_labels(data_dir, {"software developer"}, 0.2, seed=7)
    assert heldout and not set(labels["conceptUri"]) & heldout
    assert "software developer" not in set(labels["key"])
    assert heldout == heldout_esco(data_dir, fraction=0.2, seed=7)
    batch = esco_sampler(labels, seed=7).sample(16)
    assert len(set(batch.occupation.tolist())) == 16
    assert (batch.occupation != batch.negative_occupation).all()


def test_noiser_decorates_a_share_of_titles_reproducibly() -> None:
    titles = ["Registered Nurse", "Senior Software Engineer", "Warehouse Associate"] * 100
    noisy = TitleNoiser(("Austin, TX",), rate=0.5, seed=1)(titles)
    changed = sum(a != b for a, b in zip(titles, noisy))
    assert 100 < changed < 200
    assert noisy == TitleNoiser(("Austin, TX",), rate=0.5, seed=1)(titles)
    assert TitleNoiser(("Austin, TX",), rate=0.0, seed=1)(titles) == titles
    assert any("RN" in t or "Sr." in t or "Austin, TX" in t for t in noisy)


class _FixedBatches:
    """Always the same O*NET batch, so one step's weight change is attributable."""

    def __init__(self, sampler: TripletSampler, batch_size: int):
        self.batch = sampler.sample(batch_size)

    def sample(self, batch_size: int):  # noqa: ANN201 - a TitleBatch, as GroupSampler.sample
        return self.batch


@pytest.mark.parametrize("cpu_bf16", [False, True])
def test_frozen_layers_stay_fixed_and_the_rest_trains(taxonomy: Taxonomy, cpu_bf16: bool) -> None:
    """With two blocks frozen, one step over length chunks moves the upper blocks only
    (embeddings, blocks 0-1 bit-identical), under fp32 and CPU bf16 autocast; finite loss."""
    from sentence_transformers import SentenceTransformer

    from recsys.recall.encoder import base_model_dir

    model = SentenceTransformer(str(base_model_dir()), device="cpu")
    model.max_seq_length = 32
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    config = TrainingConfig(
        budget_steps=1,
        budget_minutes=None,
        batch_size=8,
        learning_rate=1e-3,
        seed=1,
        max_seq_length=32,
        heldout_fraction=0.1,
        device="cpu",
        warmup_fraction=0.0,
        freeze_embeddings=True,
        frozen_layers=2,
        cpu_bf16=cpu_bf16,
        chunk_tokens=64,
    )
    sampler = TripletSampler(taxonomy, split_titles(taxonomy, seed=1).train, seed=1)
    result = fit(model, _FixedBatches(sampler, 8), config)  # type: ignore[arg-type]
    assert np.isfinite(result["first_loss"])
    moved = {
        name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])
    }
    assert not {n for n in moved if "embeddings" in n or ".layer.0." in n or ".layer.1." in n}
    assert {n for n in moved if ".layer.5." in n} and {n for n in moved if ".layer.2." in n}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    layers = transformer_layers(model)
    assert len(layers) == 6 and not any(p.requires_grad for p in layers[0].parameters())


def test_length_chunks_give_the_one_forward_vectors_in_order() -> None:
    """Short and long (noisy) titles interleaved: chunked forwards, each padded to its own
    longest, return the vectors of one forward padded to the longest, in the input order."""
    from sentence_transformers import SentenceTransformer

    from recsys.recall.encoder import base_model_dir

    model = SentenceTransformer(str(base_model_dir()), device="cpu")
    model.max_seq_length = 32
    titles = [
        "Registered Nurse",
        "Sr. RN - Night Shift | Austin, TX - $25 - $32/hour Sign-On Bonus",
        "Welder",
        "Warehouse Associate - Make $31 to $39/hour, Houston, TX",
        "Software Engineer II",
    ] * 6
    with torch.no_grad():
        one = embed_by_length(model, titles, "cpu", chunk_tokens=0)
        chunked = embed_by_length(model, titles, "cpu", chunk_tokens=48)
    assert chunked.shape == one.shape == (30, 384)
    assert (one * chunked).sum(dim=1).min() > 0.99999
    assert not torch.allclose(chunked[0], chunked[1])


def test_prepare_leaves_the_graph_and_occupation_index_ready() -> None:
    """`recsys encoder prepare` (run by `make install`) writes the base encoder's ONNX graph
    and its occupation index (vectors and HNSW graph) where loading them looks first."""
    from typer.testing import CliRunner

    from recsys.cli.main import app
    from recsys.settings import get_settings

    result = CliRunner().invoke(app, ["encoder", "prepare", "base"])
    assert result.exit_code == 0, result.output
    assert "graph ready" in result.output and "occupation index ready" in result.output
    encoder = TitleEncoder.load("base")
    cached = get_settings().artifacts_dir / f"occupation_titles_{encoder.fingerprint[:16]}"
    assert cached.with_suffix(".npz").is_file() and cached.with_suffix(".hnsw").is_file()
    assert encoder.backend == "onnx"
