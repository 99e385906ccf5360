"""SQL statements and in-process time per request, through Flask's test client (no HTTP, no concurrency).

Load-independent figures that say what a request costs: the load run's latencies depend on how busy the
shared machine is, the number of statements does not.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.http import prepare

ROOM = 5  # a room of 5 and a room of 1: the grid's statements per candidate row = the difference / 4


def profile(database_url: str, workdir: Path, *, repeat: int = 5) -> dict[str, Any]:
    from assessment import create_app
    from assessment.extensions import db

    prepared = prepare.prepare(database_url, workdir, candidates=ROOM + 1, room_size=ROOM)
    config = prepare.app_config(prepared.database_url, workdir / "instance")
    config.update(WTF_CSRF_ENABLED=False)
    app = create_app(config)
    count = {"n": 0}

    def on_execute(*_: Any, **__: Any) -> None:
        count["n"] += 1

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", on_execute)
    out: dict[str, Any] = {}

    def measure(label: str, call: Any, times: int) -> Any:
        statements, ms = [], []
        response = None
        for _ in range(times):
            count["n"] = 0
            t0 = time.perf_counter()
            response = call()
            ms.append((time.perf_counter() - t0) * 1000)
            statements.append(count["n"])
            if response.status_code != 200:
                msg = f"{label}: HTTP {response.status_code} {response.get_data(as_text=True)[:200]}"
                raise RuntimeError(msg)
        out[label] = {"statements": max(statements), "ms_median": sorted(ms)[len(ms) // 2]}
        return response

    def signed_in(username: str) -> Any:
        client = app.test_client()
        response = client.post("/sign-in", data={"username": username, "password": prepare.PASSWORD})
        if response.status_code != 302:
            raise RuntimeError(f"sign-in of {username} failed: HTTP {response.status_code}")
        return client

    headers = {"X-Sitting-Token": "bench-profile-token"}
    clients = [signed_in(c["username"]) for c in prepared.candidates]
    token = {"client_token": headers["X-Sitting-Token"]}
    for i, client in enumerate(clients):
        suffix = "" if i == 0 else "_other"
        measure("check_in" + suffix, lambda c=client: c.post("/api/v1/sitting/check-in", json=token), 1)
        measure("start" + suffix, lambda c=client: c.post("/api/v1/sitting/start", headers=headers), 1)
    out.pop("check_in_other", None)
    out.pop("start_other", None)
    client = clients[0]
    items = [i["code"] for i in client.get("/api/v1/sitting").get_json()["items"]]
    seq = iter(range(1, 10_000))

    def save() -> Any:
        n = next(seq)
        body = {
            "item": items[n % len(items)],
            "response": {"choice": 0},
            "flagged": None,
            "seq": n,
            "key": uuid.uuid4().hex,
        }
        return client.post("/api/v1/sitting/answers", headers=headers, json=body)

    measure("save", save, repeat * 2)
    measure("heartbeat", lambda: client.post("/api/v1/sitting/heartbeat", headers=headers), repeat * 2)
    measure("view", lambda: client.get("/api/v1/sitting"), repeat)  # only when the pulse's version changed
    for room, rows in zip(prepared.proctors, (ROOM, 1), strict=True):
        proctor = signed_in(room["username"])
        path = f"/api/v1/proctor/sessions/{room['session_id']}/grid"
        measure(f"grid_{rows}_rows", lambda p=proctor, path=path: p.get(path), repeat)
    with app.app_context():
        event.remove(db.engine, "before_cursor_execute", on_execute)
        db.session.remove()
        db.engine.dispose()
    extra = out[f"grid_{ROOM}_rows"]["statements"] - out["grid_1_rows"]["statements"]
    out["grid_statements_per_row"] = extra / (ROOM - 1)
    out["section_items"] = prepared.section_items
    return out
