"""The int8 ONNX graph the service runs by default: close to the float one, told apart from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


def _quantize_in_a_process(paths: tuple[str, str]) -> int:
    from recsys.recall.onnx_export import quantize_int8

    return quantize_int8(Path(paths[0]), Path(paths[1])).stat().st_size


@pytest.mark.slow
def test_processes_quantising_the_same_graph_at_once_all_succeed(tmp_path: Path) -> None:
    """Processes starting on a fresh artifacts folder quantise the same fp32 graph into the
    same cache file at the same moment (CI saw it: one of two API processes fell back to
    torch). onnxruntime's path-based shape inference writes a `-inferred` file next to its
    input and deletes it, so one process removed the other's; all must now finish."""
    import multiprocessing

    from recsys.recall.encoder_metadata import base_model_dir
    from recsys.recall.onnx_export import export_onnx

    fp32 = export_onnx(base_model_dir(), tmp_path / "title_encoder.onnx")
    out = str(tmp_path / "title_encoder.int8.onnx")
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        sizes = pool.map(_quantize_in_a_process, [(str(fp32), out)] * 3)
    assert min(sizes) > 0 and len(set(sizes)) == 1
    assert not list(tmp_path.glob("*inferred*")) and not list(tmp_path.glob("*.partial-*"))
