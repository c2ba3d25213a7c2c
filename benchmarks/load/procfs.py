"""CPU and memory of the server, the driver and the machine, read from /proc (Linux only)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.load.console import console

CLK_TCK = os.sysconf("SC_CLK_TCK")


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its workers (all their threads)."""
    total = 0.0
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn workers run as children of `recsys serve`)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            children = (
                (task / "children").read_text().split() if (task / "children").exists() else []
            )
            todo.extend(int(c) for c in children)
    return pids


def process_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) in MiB, summed over the process and its workers."""
    out = {"VmRSS": 0.0, "VmHWM": 0.0}
    for p in process_tree(pid):
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key in out:
                out[key] += int(value.split()[0]) / 1024
    return {"rss_mb": out["VmRSS"], "peak_rss_mb": out["VmHWM"]}


@dataclass
class CpuWindow:
    """CPU used by the server, this driver and the whole machine over a stretch of wall time."""

    server_pid: int
    t0: float = 0.0
    machine0: float = 0.0
    server0: float = 0.0
    driver0: float = 0.0

    def start(self) -> CpuWindow:
        self.t0 = time.perf_counter()
        self.machine0 = machine_cpu()[0]
        self.server0 = process_cpu(self.server_pid)
        self.driver0 = time.process_time()
        return self

    def stop(self) -> dict[str, float]:
        wall = max(time.perf_counter() - self.t0, 1e-9)
        machine = (machine_cpu()[0] - self.machine0) / wall
        server = (process_cpu(self.server_pid) - self.server0) / wall
        driver = (time.process_time() - self.driver0) / wall
        return {
            "server_cores": server,
            "driver_cores": driver,
            "machine_cores": machine,
            "other_cores": max(machine - server - driver, 0.0),
        }


def wait_until_quiet(
    server_pid: int, max_cores: float, max_wait_s: float, windows: int = 3
) -> dict[str, Any]:
    """Wait until processes other than the server and this driver use < `max_cores` cores in
    `windows` consecutive 10 s windows (a lull between two test runs is not quiet), for at most
    `max_wait_s`."""
    t0 = time.perf_counter()
    quiet_in_a_row = 0
    seen: list[float] = []
    while True:
        window = CpuWindow(server_pid).start()
        time.sleep(10)
        other = window.stop()["other_cores"]
        seen.append(other)
        quiet_in_a_row = quiet_in_a_row + 1 if other < max_cores else 0
        waited = time.perf_counter() - t0
        if quiet_in_a_row >= windows or waited >= max_wait_s:
            return {
                "other_cores_last_windows": seen[-windows:],
                "waited_s": waited,
                "quiet": quiet_in_a_row >= windows,
            }
        if other >= max_cores:
            console.print(
                f"[yellow]other processes use {other:.2f} cores (load {loadavg()}); "
                f"waiting for a quiet machine ({waited:.0f}/{max_wait_s:.0f} s)[/yellow]"
            )
