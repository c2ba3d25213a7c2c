"""The Dockerfile's rules: the slim Python base, torch from the CPU index before the project and
pinned as the Makefile pins it, a HEALTHCHECK on /healthz without curl, a non-root user,
`recsys serve` as the command, and nothing copied that .dockerignore excludes."""

from __future__ import annotations

import re

from compose_file import (
    MAKEFILE,
    dockerfile_base,
)


def dockerfile_problems(text: str, dockerignore: str) -> list[str]:
    lines = [ln.strip() for ln in text.replace("\\\n", " ").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    problems = []
    if dockerfile_base(text) != "python:3.11-slim":
        problems.append(f"base image is {dockerfile_base(text)!r}, expected python:3.11-slim")
    args = dict(re.findall(r"^ARG\s+(\w+)=\"?([^\"\s]+)\"?", text, flags=re.MULTILINE))
    # RUN lines with the ARG defaults filled in.
    runs = [
        re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), ln)
        for ln in lines
        if ln.upper().startswith("RUN ")
    ]
    torch_cpu = re.compile(r"pip install .*--index-url\W+https://download\.pytorch\.org/whl/cpu\b")
    torch_at = next(
        (
            i
            for i, ln in enumerate(runs)
            if torch_cpu.search(ln) and re.search(r"\btorch[=<>~!]", ln)
        ),
        -1,
    )
    project_at = next((i for i, ln in enumerate(runs) if re.search(r"pip install \"?\.", ln)), -1)
    if torch_at < 0:
        problems.append("no pinned torch installed from the PyTorch CPU index")
    if project_at < 0:
        problems.append("the project is not pip-installed")
    elif torch_at > project_at:
        problems.append("torch must be installed before the project")
    make_spec = re.search(r"^TORCH_SPEC \?= (\S+)", MAKEFILE.read_text(), flags=re.MULTILINE)
    if make_spec and args.get("TORCH_SPEC") != make_spec.group(1):
        problems.append(f"TORCH_SPEC {args.get('TORCH_SPEC')!r} != Makefile's {make_spec[1]!r}")
    health = [ln for ln in lines if ln.upper().startswith("HEALTHCHECK")]
    if not health or "/healthz" not in health[-1]:
        problems.append("no HEALTHCHECK on /healthz")
    elif re.search(r"\b(curl|wget)\b", health[-1]):
        problems.append("HEALTHCHECK uses curl/wget, which python:3.11-slim lacks")
    users = [ln.split(None, 1)[1] for ln in lines if ln.upper().startswith("USER ")]
    user = users[-1].split(":")[0] if users else "root"
    if user in ("root", "0"):
        problems.append(f"runs as root (USER {user})")
    cmd = [ln for ln in lines if ln.upper().startswith(("CMD", "ENTRYPOINT"))]
    if not cmd or not re.search(r"recsys\"?,?\s*\"?serve", cmd[-1]):
        problems.append("CMD is not `recsys serve`")
    ignored = [ln.strip() for ln in dockerignore.splitlines()]
    ignored = [ln for ln in ignored if ln and not ln.startswith("#")]
    for source in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)\s+\S+$", text, flags=re.MULTILINE):
        for src in source.split():
            if (
                ignored
                and ignored[0] == "*"
                and f"!{src.rstrip('/')}" not in {i.rstrip("/") for i in ignored}
            ):
                problems.append(f"COPY {src}: excluded by .dockerignore")
    return problems
