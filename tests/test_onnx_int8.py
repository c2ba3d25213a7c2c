"""The int8 ONNX graph the service runs by default: close to the float one, told apart from it."""

from __future__ import annotations

import numpy as np

from recsys.recall.encoder import INT8_SUFFIX, TitleEncoder

TITLES = ["React Developer", "JavaScript Engineer", "Registered Nurse", "ICU RN - Night Shift"]


def test_int8_vectors_stay_close_and_carry_their_own_fingerprint() -> None:
    float_graph = TitleEncoder.load("base", cache_size=0, int8=False)
    int8 = TitleEncoder.load("base", cache_size=0, int8=True)
    assert int8.fingerprint == float_graph.fingerprint + INT8_SUFFIX
    a, b = float_graph.encode(TITLES), int8.encode(TITLES)
    assert b.shape == a.shape and b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.97  # close, but not the same vectors
    sims = b @ b.T  # what the taxonomy fine-tuning is for still holds after quantisation
    assert sims[0, 1] > sims[0, 2] and sims[2, 3] > sims[2, 0]


def test_torch_fallback_keeps_the_models_own_fingerprint() -> None:
    torch_encoder = TitleEncoder.load("base", backend="torch", cache_size=0, int8=True)
    assert not torch_encoder.fingerprint.endswith(INT8_SUFFIX)


def test_int8_bulk_and_one_title_calls_stay_close() -> None:
    """Activations are quantised per call, so a title's vector moves a little with its batch:
    measured at cosine >= 0.985 on real titles, and no retrieval loss in the service's pairing
    (`benchmarks.encoder_int8`, one query per call against a corpus encoded in bulk)."""
    int8 = TitleEncoder.load("base", cache_size=0, int8=True)
    titles = [*TITLES, "Senior Java Developer - Remote", "Cook", "Night Shift Warehouse Associate"]
    bulk = int8.encode(titles)
    alone = np.stack([int8.encode([t])[0] for t in titles])
    assert (bulk * alone).sum(axis=1).min() > 0.97
