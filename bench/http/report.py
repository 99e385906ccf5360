"""Targets, the printed report and the README table of ``bench.http`` records."""

from __future__ import annotations

from typing import Any

# Targets on the project's 2-core machine, load generator on the same cores (see bench/README.md).
SAVE_P95_MS = 100.0
SAVE_P99_MS = 250.0
HERD_ALL_SERVED_S = 10.0
GRID_P95_MS = 1000.0
OPS = ("sign_in", "check_in", "start", "save", "save_retry", "heartbeat", "view", "grid")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def targets(record: dict[str, Any]) -> list[dict[str, Any]]:
    ops, phases, verification = record["ops"], record["phases"], record["verification"]
    save = ops.get("save", {})
    start = ops.get("start", {})
    save_errors = save.get("errors", 0) + ops.get("save_gave_up", {}).get("errors", 0)
    rows = [
        {
            "target": "answer save p95",
            "limit": f"< {SAVE_P95_MS:.0f} ms",
            "measured": f"{_ms(save.get('p95'))} ms",
            "pass": save.get("p95") is not None and save["p95"] < SAVE_P95_MS,
        },
        {
            "target": "answer save p99",
            "limit": f"< {SAVE_P99_MS:.0f} ms",
            "measured": f"{_ms(save.get('p99'))} ms",
            "pass": save.get("p99") is not None and save["p99"] < SAVE_P99_MS,
        },
        {
            "target": "answer saves failed (first try, non-200)",
            "limit": "0",
            "measured": str(save_errors),
            "pass": save_errors == 0,
        },
        {
            "target": "acknowledged saves lost or stale in SQL",
            "limit": "0",
            "measured": "{lost_acknowledged} lost, {mismatched_events} wrong, "
            "{current_older_than_acknowledged} stale of {acknowledged_saves}".format(**verification),
            "pass": verification["ok"],
        },
        {
            "target": f"start herd: all {record['candidates']} have their first items",
            "limit": f"< {HERD_ALL_SERVED_S:.0f} s, 0 errors",
            "measured": (
                f"{phases['start']['all_served_s']:.1f} s"
                if phases["start"]["all_served_s"] is not None
                else f"{phases['start']['served']}/{phases['start']['requests']} served"
            )
            + f", {start.get('errors', 0)} errors",
            "pass": phases["start"]["all_served_s"] is not None
            and phases["start"]["all_served_s"] < HERD_ALL_SERVED_S
            and start.get("errors", 0) == 0,
        },
    ]
    if ops.get("grid", {}).get("n"):
        rows.append(
            {
                "target": "proctor grid p95",
                "limit": f"< {GRID_P95_MS:.0f} ms",
                "measured": f"{_ms(ops['grid']['p95'])} ms, {ops['grid']['errors']} errors",
                "pass": ops["grid"]["p95"] < GRID_P95_MS and ops["grid"]["errors"] == 0,
            }
        )
    return rows


def _profile_lines(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return []
    parts = [
        f"{op} {p['statements']} ({p['ms_median']:.0f} ms)"
        for op, p in profile.items()
        if isinstance(p, dict)
    ]
    return [
        "SQL statements per request, one at a time in-process (median time): " + ", ".join(parts),
        f"  the proctor grid adds {profile['grid_statements_per_row']:.0f} statements per candidate row "
        f"(a room of 5 against a room of 1); the open section has {profile['section_items']} items",
    ]


def _cpu_per_request(record: dict[str, Any]) -> float:
    """gunicorn's CPU over every request it was sent (pages of the sign-in included)."""
    requests = sum(sum(s["status"].values()) for op, s in record["ops"].items() if op != "save_gave_up")
    return 1000 * record["cpu"]["server_cpu_s"] / max(1, requests)


def render(record: dict[str, Any]) -> str:
    sc, cpu = record["scenario"], record["cpu"]
    steady_s = record["phases"]["steady"]["elapsed_s"] or 1.0
    lines = [
        "",
        f"HTTP bench {record['when']}: {record['candidates']} candidates in {record['rooms']} room(s), "
        f"{record['backend']}, gunicorn {record['server']['workers']}x{record['server']['threads']} gthread, "
        f"{record['machine']['cores']} cores ({record['machine']['cpu']})"
        + (f"; EXPERIMENT {record['experiment']}" if record.get("experiment") else ""),
        f"steady state {sc['duration']:.0f} s: a save every {sc['save_min']:.0f}-{sc['save_max']:.0f} s, "
        f"heartbeat every {sc['heartbeat']:.0f} s, proctor grid every {sc['grid']:.0f} s, "
        f"speed-up x{sc['speedup']:g}; set-up argon2 time_cost=1 memory_cost=1 MiB (cheap, set-up only)",
        "",
        f"{'request':<12} {'n':>7} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        "  errors",
    ]
    for op in OPS:
        s = record["ops"].get(op)
        if not s:
            continue
        rate = f"{s['n'] / steady_s:.1f}" if op in ("save", "heartbeat", "view", "grid") else ""
        bad = {k: v for k, v in s["status"].items() if k not in ("200", "302", "204")}
        lines.append(
            f"{op:<12} {s['n']:>7} {rate:>7} {_ms(s['p50']):>8} {_ms(s['p95']):>8} {_ms(s['p99']):>8} "
            f"{_ms(s['max']):>8}  {s['errors']}{' ' + str(bad) if bad else ''}"
        )
    ph = record["phases"]
    lines += [
        "",
        f"sign-in of everyone: {ph['sign_in']['elapsed_s']:.1f} s ({ph['sign_in']['failed']} failed); "
        f"check-in herd: last served {ph['check_in']['last_served_s'] or 0:.2f} s; start herd: last served "
        f"{ph['start']['last_served_s'] or 0:.2f} s after the first press",
        f"CPU over the load: server {cpu['server_cpu_s']:.0f} s, load generator {cpu['client_cpu_s']:.0f} s, "
        f"wall {cpu['wall_s']:.0f} s; {_cpu_per_request(record):.1f} ms of server CPU per request; "
        f"load average before {cpu['loadavg_before'][0]:.2f}, after {cpu['loadavg_after'][0]:.2f}",
        f"verification: {record['verification']}",
        *_profile_lines(record.get("profile")),
        f"server log errors: {record['server_log_errors']}",
        "",
        f"{'target':<48} {'limit':<18} {'measured':<40} result",
    ]
    for t in record["targets"]:
        lines.append(
            f"{t['target']:<48} {t['limit']:<18} {t['measured']:<40} {'PASS' if t['pass'] else 'FAIL'}"
        )
    return "\n".join(lines)


def table(records: list[dict[str, Any]], *, markdown: bool) -> str:
    head = [
        "when",
        "db",
        "N",
        "start herd: all served s",
        "start p50/p95/p99/max ms",
        "saves/s",
        "save p50/p95/p99/max ms",
        "heartbeat p95 ms",
        "grid p95 ms",
        "server CPU ms/request",
        "errors",
        "lost",
        "targets",
    ]
    rows = []
    for r in records:
        ops, ph = r["ops"], r["phases"]
        steady_s = ph["steady"]["elapsed_s"] or 1.0

        def q(op: str, ops: dict[str, Any] = ops) -> str:
            s = ops.get(op) or {}
            return "/".join(_ms(s.get(k)) for k in ("p50", "p95", "p99", "max"))

        errors = sum(s["errors"] for s in ops.values())
        served = ph["start"]["all_served_s"]
        rows.append(
            [
                r["when"][:16].replace("T", " "),
                r["backend"]
                + (" WAL" if r["server"].get("sqlite_wal") else "")
                + (f" ({r['experiment']})" if r.get("experiment") else ""),
                str(r["candidates"]),
                f"{served:.1f}"
                if served is not None
                else f"{ph['start']['served']}/{ph['start']['requests']}",
                q("start"),
                f"{ops.get('save', {}).get('n', 0) / steady_s:.1f}",
                q("save"),
                _ms(ops.get("heartbeat", {}).get("p95")),
                _ms(ops.get("grid", {}).get("p95")),
                f"{_cpu_per_request(r):.1f}",
                str(errors),
                str(r["verification"]["lost_acknowledged"]),
                f"{sum(t['pass'] for t in r['targets'])}/{len(r['targets'])}",
            ]
        )
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(out)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)
