"""The load benchmark's tables: setup, GET latency per phase, stage timings, events, memory."""

from __future__ import annotations

import argparse
import os
from typing import Any

from benchmarks.load.console import console
from recsys.cli.console import kv_table, table


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    """Print every table of one run (`result` as `benchmarks.api_load.main` saves it)."""
    d = result["drive"]
    console.print(kv_table("api_load: setup", _setup(result, args)))
    serial = d["serial"]
    rows = [_phase_row("serial", "1 at a time", serial, 1, "")]
    phases = [("steady", d["steady"])] + [("ramp", s) for s in d["ramp"]]
    for name, s in phases:
        rows.append(_phase_row(name, s["rate"], s, s["max_inflight"], s["max_send_lag_ms"]))
    cols = ["phase", "req/s", "sent", "errors", "cached", "done/s", "p50 ms", "p90 ms"]
    cols += ["p99 ms", "max ms", "in flight", "send lag ms", "cores srv/drv/other"]
    console.print(table("GET /v1/recommendations, open loop (client-side latency)", cols, rows))
    steady = d["steady"]
    console.print(
        f"steady {steady['rate']:g} req/s: p99 {steady['latency_ms']['p99']:.1f} ms "
        f"(target < {args.target_p99_ms:g} ms), {steady['errors']} errors; highest ramp rate "
        f"with p99 < {args.p99_limit_ms:g} ms and no errors: {d['max_rate_under_limit']} req/s "
        f"(ramp stopped by: {d['ramp_stopped_by'] or 'end of the ramp'})"
    )
    for s in [steady, *d["ramp"]]:
        if s["errors"]:
            console.print(f"[red]{s['rate']:g} req/s errors {s['error_kinds']}[/red]")
            for e in s["error_samples"]:
                console.print(f"  {e}")

    stage_rows = []
    for stage, m in steady["stages"].items():
        resp = steady["response_timings_ms"].get(stage, {})
        alone = serial["response_timings_ms"].get(stage, {})
        stage_rows.append(
            [
                stage,
                int(m["count"]),
                m["mean_ms"],
                m["p50_ms_bucket"],
                m["p99_ms_bucket"],
                resp.get("p50", ""),
                resp.get("p99", ""),
                alone.get("p50", ""),
            ]
        )
    console.print(
        table(
            f"server-side stage timings during the steady {steady['rate']:g} req/s run",
            [
                "stage",
                "n",
                "mean ms (/metrics)",
                "p50 ms (buckets)",
                "p99 ms (buckets)",
                "p50 ms (debug)",
                "p99 ms (debug)",
                "p50 ms, serial (debug)",
            ],
            stage_rows,
        )
    )

    ev = d["events"]
    again = ev["resend_first_batch"]
    console.print(
        kv_table(
            "POST /v1/events",
            {
                "batches x size, senders": f"{ev['batches']} x {args.event_batch_size}, "
                f"{ev['senders']}",
                "accepted / duplicates / rejected": f"{ev['accepted']:,} / {ev['duplicates']:,} / "
                f"{ev['rejected']:,}",
                "errors (non-200)": ev["errors"],
                "wall (s)": ev["wall_s"],
                "accepted events/s": ev["accepted_per_s"],
                "batch ms p50 / p99 / max": f"{ev['batch_ms']['p50']:.1f} / "
                f"{ev['batch_ms']['p99']:.1f} / {ev['batch_ms']['max']:.1f}",
                "server cores": ev["cpu"]["server_cores"],
                "first batch re-sent": f"status {again['status']}, accepted {again['accepted']}, "
                f"duplicates {again['duplicates']}, rejected {again['rejected']}",
            },
        )
    )
    mem = {
        "RSS when ready (MiB)": d["memory_ready"]["rss_mb"],
        "RSS after the GET load (MiB)": d["memory_after_load"]["rss_mb"],
        "RSS after events (MiB)": d["memory_after_events"]["rss_mb"],
        "peak RSS, VmHWM (MiB)": d["memory_after_events"]["peak_rss_mb"],
        "impressions logged / dropped": f"{d['server_counters']['impressions_logged']:.0f} / "
        f"{d['server_counters']['impressions_dropped']:.0f}",
        "shutdown": f"{result['shutdown']}",
        "tracebacks in server log": result["log"]["tracebacks"],
    }
    console.print(kv_table(f"API process memory ({args.jobs:,} jobs)", mem))
    for tb in result["log"]["first_tracebacks"]:
        console.print(tb, markup=False, highlight=False)


def _setup(result: dict[str, Any], args: argparse.Namespace) -> dict[str, object]:
    d = result["drive"]
    return {
        "jobs / seekers": f"{args.jobs:,} / {args.seekers:,}",
        "store": f"{args.store} ({args.redis_url})" if args.store == "redis" else args.store,
        "model versions": ", ".join(f"{k}={v}" for k, v in d["model_versions"].items()),
        "catalog cache": result["catalog_cache"],
        "to /healthz (s)": result["ready"]["healthz_s"],
        "to /readyz (s)": result["ready"]["readyz_s"],
        "cores": os.cpu_count(),
        "load avg before / after": f"{d['loadavg_before']} / {d['loadavg_after']}",
        "other processes before (cores, 10 s windows)": ", ".join(
            f"{x:.2f}" for x in d.get("quiet", {}).get("other_cores_last_windows", [])
        )
        or "not checked",
        "distinct users asked": d["users_used"],
        "server log": str(result["server_log"]),
    }


def _phase_row(
    name: str, rate: object, s: dict[str, Any], inflight: object, lag: object
) -> list[object]:
    """One row of the GET table: a closed-loop (serial) or open-loop phase."""
    lat, cpu = s["latency_ms"], s["cpu"]
    return [
        name,
        rate,
        s["sent"],
        s["errors"],
        s["cache_hits"],
        s["throughput_rps"],
        lat["p50"],
        lat["p90"],
        lat["p99"],
        lat["max"],
        inflight,
        lag,
        f"{cpu['server_cores']:.2f}/{cpu['driver_cores']:.2f}/{cpu['other_cores']:.2f}",
    ]
