"""Export a sentence-transformers title encoder to one ONNX graph for onnxruntime.

sentence-transformers' own ONNX backend needs `optimum`, which does not install beside
transformers 5, so the graph is traced here: the transformer, attention-masked mean pooling and
L2 normalisation, with dynamic batch and sequence axes. The legacy TorchScript exporter is used
because the dynamo exporter needs `onnxscript`, which we do not depend on.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ONNX_OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"
#: Different lengths on purpose: the trace must see padding so the attention mask stays a
#: real input of the graph instead of being folded away as all ones.
_TRACE_TITLES = ["nurse", "senior software engineer, distributed storage systems"]


def _check_supported(model: Any) -> None:
    """Only Transformer -> mean Pooling [-> Normalize] is exported; refuse anything else."""
    names = [type(module).__name__ for module in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        raise ValueError(f"cannot export modules {names}: expected Transformer, Pooling, Normalize")
    mode = model[1].pooling_mode
    modes = (mode,) if isinstance(mode, str) else tuple(mode)
    if modes != ("mean",):
        raise ValueError(f"cannot export pooling {modes}: only mean pooling is supported")


def export_sentence_transformer(model: Any, out_path: Path) -> Path:
    """Trace `model` (a SentenceTransformer) into `out_path`; written atomically."""
    import torch

    _check_supported(model)

    class MeanPooledEncoder(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    device = next(model.parameters()).device
    wrapper = MeanPooledEncoder(model[0].auto_model).eval().to("cpu")
    features = model.preprocess(_TRACE_TITLES)
    inputs = tuple(
        features.get(name, torch.zeros_like(features["input_ids"])).to("cpu")
        for name in INPUT_NAMES
    )
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    axes[OUTPUT_NAME] = {0: "batch"}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_suffix(f".partial-{os.getpid()}")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                inputs,
                str(partial),
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
        model.to(device)
    return out_path


def export_onnx(model_dir: Path, out_path: Path) -> Path:
    """Load the sentence-transformers folder on CPU and export it (see module docstring)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return export_sentence_transformer(model, out_path)


def max_cosine_gap(a: np.ndarray, b: np.ndarray) -> float:
    """1 - the smallest row-wise cosine between two embedding matrices (0 = identical)."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(1.0 - (a * b).sum(axis=1).min())


def quantize_int8(fp32_path: Path, out_path: Path, per_channel: bool = True) -> Path:
    """Dynamic int8 weights of an exported graph (onnxruntime's quantizer, MatMul and Gemm
    nodes, activations quantised per call); written atomically. Whether it serves is the
    caller's measured choice: `benchmarks.encoder_int8` weighs its speed against its MAP."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_suffix(f".partial-{os.getpid()}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The graph, not its path: from a path onnxruntime writes its shape-inferred copy
            # next to the input and deletes it after, so processes quantising the same cached
            # graph at once removed each other's; from a ModelProto it uses a private temp dir.
            quantize_dynamic(
                onnx.load(Path(fp32_path)),
                partial,
                op_types_to_quantize=["MatMul", "Gemm"],
                per_channel=per_channel,
                weight_type=QuantType.QInt8,
            )
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return out_path
