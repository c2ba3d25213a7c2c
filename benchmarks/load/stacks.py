"""py-spy's sampled stacks of the server, folded into the steps of one request.

`py-spy record --format raw` writes one line per distinct stack, root first, frames separated by
`;`, then the number of samples that stack got. A sample is attributed to the first step, walking
from the innermost frame outwards, whose pattern names one of the frame's files: time inside
numpy, FAISS or onnxruntime, or in the shared per-candidate signals, belongs to the step that
called it, and whatever sits under no project frame is the web stack (uvicorn, h11/httptools,
Starlette, anyio) or the rest.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Final

#: (step, file path fragments), tried in order on each frame from the innermost out. The service
#: and pipeline drivers come last, so that a frame of a stage module wins over its caller's.
STEPS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("query vector (encode)", ("recsys/recall/encoder", "recsys/recall/onnx_export")),
    ("occupation coding", ("recsys/recall/occupations",)),
    ("recall", ("recsys/recall/", "recsys/core/candidates")),
    ("coarse", ("recsys/ranking/coarse",)),
    ("fine: features", ("recsys/ranking/features", "recsys/core/histories")),
    (
        "fine: model",
        ("recsys/ranking/fine", "recsys/ranking/compiled_trees", "recsys/ranking/apply_rate"),
    ),
    ("rerank", ("recsys/ranking/rerank", "recsys/ranking/balance")),
    ("reasons", ("recsys/ranking/reasons",)),
    ("profile + history", ("recsys/core/profiles", "recsys/service/requests", "feature_store/")),
    ("impression log", ("recsys/service/impression_log",)),
    ("respond (serialise)", ("recsys/service/responses", "api/schemas")),
    ("result cache", ("recsys/service/caches",)),
    ("pipeline (other)", ("recsys/pipeline/",)),
    ("service (other)", ("recsys/service/",)),
    ("admission + middleware", ("api/admission", "api/metrics", "api/app", "api/errors")),
    ("routers", ("api/routers/", "api/deps")),
    ("web stack", ("uvicorn/", "h11/", "httptools/", "starlette/", "fastapi/", "anyio/")),
    ("metrics export", ("prometheus_client/",)),
    ("asyncio + threads", ("asyncio/", "threading.py", "concurrent/futures")),
)
#: innermost frames where a thread waits rather than computes: py-spy's idle detection misses
#: uvloop's epoll (the event loop shows as `Runner.run`), condition waits and socket reads
#: (Redis replies). Their samples are reported as waiting, outside the CPU total.
WAITING: Final[str] = "waiting (not CPU)"
_WAIT_LEAVES: Final[tuple[str, ...]] = (
    "Runner.run",
    "Condition.wait",
    "Event.wait",
    "SocketBuffer._read_from_socket",
    "select",
    "sleep",
)
_FRAME_FILE = re.compile(r"\((.*?):\d+\)$")


def frame_file(frame: str) -> str:
    """The file of one raw frame, `function (path:line)`; '' for a native frame without one."""
    m = _FRAME_FILE.search(frame.strip())
    return m.group(1) if m else ""


def step_of(frames: list[str]) -> str:
    """The step a stack (root first) belongs to."""
    leaf = frames[-1].strip().split(" (")[0] if frames else ""
    if leaf.endswith(_WAIT_LEAVES):
        return WAITING
    files = [frame_file(f) for f in reversed(frames)]
    for path in files:
        for step, fragments in STEPS:
            if any(fragment in path for fragment in fragments):
                return step
    return "other"


def fold(raw: str) -> Counter[str]:
    """Samples per step from py-spy's raw output."""
    out: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        out[step_of(stack.split(";"))] += int(count)
    return out


def cpu_ms_per_request(
    path: Path, rate_hz: float, requests: int
) -> tuple[dict[str, float], float, int]:
    """({step: sampled ms per request}, their total without the waits, samples). On a quiet
    machine a sample of a running thread is CPU time; where other processes take the cores, a
    thread waiting for one is sampled too, so the caller scales by the measured CPU."""
    counts = fold(path.read_text())
    samples = sum(counts.values())
    per = {
        step: n / rate_hz * 1e3 / max(requests, 1)
        for step, n in sorted(counts.items(), key=lambda kv: -kv[1])
    }
    return per, sum(ms for step, ms in per.items() if step != WAITING), samples
