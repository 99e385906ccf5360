"""The load generator, run in its own process: ``python -m bench.http.load SPEC.json OUT.json``.

One asyncio loop, one aiohttp connection pool, one simulated browser per candidate (its own session cookie,
CSRF token, sitting token and answer sequence). Phases, in order:

1. sign-in of every candidate and proctor (bounded concurrency; measured for information);
2. check-in herd: every candidate checks in at a random moment within ``herd_spread`` seconds;
3. start herd: every candidate presses Start within ``herd_spread`` seconds; the response carries the first
   section's items, so "everyone has their first item" is the moment the last successful Start answers;
4. steady state for ``duration`` seconds, closed loop: each candidate saves an answer every
   U(``save_min``, ``save_max``) seconds and sends the sitting page's heartbeat every ``heartbeat`` seconds
   (both divided by ``speedup``), reading the whole view (``GET /api/v1/sitting``) only when the heartbeat's
   ``view_version`` differs from the one it holds, as the page does; each room's proctor polls the console
   grid every ``grid`` seconds.

A save that fails (connection error, timeout, 5xx) is retried with the same idempotency key, as the sitting
page does; every acknowledged (200) save goes into the ledger that is later checked against the database.
Every request loop is bounded in time and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
import time
import uuid
from collections import defaultdict
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp

CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
VALUE = re.compile(r'value="([^"]+)"')
SAVE_RETRIES = 4
REQUEST_TIMEOUT = 30.0


class Recorder:
    """Latency (ms) and outcome of every request, by operation."""

    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.window: dict[str, list[float]] = {}

    def add(self, op: str, ms: float, status: str) -> None:
        self.status[op][status] += 1
        if status == "200" or status == "302" or status == "204":
            self.latency[op].append(ms)

    def errors(self, op: str) -> int:
        return sum(n for s, n in self.status[op].items() if s not in ("200", "302", "204"))


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    xs = sorted(values)

    def q(p: float) -> float:
        return xs[min(len(xs) - 1, max(0, round(p * len(xs)) - 1))]

    return {
        "n": len(xs),
        "p50": q(0.50),
        "p95": q(0.95),
        "p99": q(0.99),
        "max": xs[-1],
        "mean": sum(xs) / len(xs),
    }


class Browser:
    """One person's browser: cookies kept by hand, so a ``__Host-`` Secure cookie also works over loopback."""

    def __init__(self, http: aiohttp.ClientSession, base: str, rec: Recorder, username: str) -> None:
        self.http, self.base, self.rec, self.username = http, base, rec, username
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    async def call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        hdrs = {"Accept": "application/json" if path.startswith("/api/") else "text/html"}
        if self.csrf:
            hdrs["X-CSRFToken"] = self.csrf
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        hdrs.update(headers or {})
        t0 = time.perf_counter()
        try:
            async with self.http.request(
                method, self.base + path, json=json_body, data=form, headers=hdrs, allow_redirects=False
            ) as response:
                body = await response.read()
                for header in response.headers.getall("Set-Cookie", []):
                    for name, morsel in SimpleCookie(header).items():
                        if morsel["max-age"] == "0" or not morsel.value:
                            self.cookies.pop(name, None)
                        else:
                            self.cookies[name] = morsel.value
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.rec.add(op, (time.perf_counter() - t0) * 1000, type(exc).__name__)
            return 0, b""
        self.rec.add(op, (time.perf_counter() - t0) * 1000, str(status))
        return status, body

    async def sign_in(self, password: str) -> bool:
        status, body = await self.call("sign_in_page", "GET", "/sign-in")
        match = CSRF_INPUT.search(body.decode(errors="replace")) if status == 200 else None
        value = VALUE.search(match.group(0)) if match else None
        if value is None:
            return False
        form = {"csrf_token": value.group(1), "username": self.username, "password": password, "next": ""}
        status, _ = await self.call("sign_in", "POST", "/sign-in", form=form)
        if status != 302:
            return False
        status, body = await self.call("session", "GET", "/api/v1/session")
        if status != 200:
            return False
        self.csrf = json.loads(body)["csrf_token"]
        return True


class Candidate(Browser):
    def __init__(self, *args: Any, attempt_id: int) -> None:
        super().__init__(*args)
        self.attempt_id = attempt_id
        self.token = uuid.uuid4().hex
        self.items: list[tuple[str, int]] = []  # (code, number of options) of the open section
        self.seq = 0
        self.next_item = 0
        self.view_version: str | None = None  # of the sitting view held, as the page keeps it


def _choice_response(n_options: int, rng: random.Random) -> dict[str, int]:
    return {"choice": rng.randrange(n_options)}


async def _at(t: float) -> None:
    delay = t - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def _bounded(n: int, coros: list) -> list:
    gate = asyncio.Semaphore(n)

    async def one(c):  # type: ignore[no-untyped-def]
        async with gate:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def herd(candidates: list[Candidate], op: str, spread: float, rng: random.Random) -> dict[str, Any]:
    """Every candidate sends ``op`` (check-in or start) at a random moment within ``spread`` seconds."""
    t0 = time.perf_counter() + 0.2
    done: list[float] = []

    async def one(c: Candidate) -> None:
        await _at(t0 + rng.uniform(0, spread))
        if op == "check_in":
            status, body = await c.call(
                op, "POST", "/api/v1/sitting/check-in", json_body={"client_token": c.token}
            )
        else:
            status, body = await c.call(
                op, "POST", "/api/v1/sitting/start", headers={"X-Sitting-Token": c.token}
            )
        if status == 200:
            view = json.loads(body)
            c.view_version = view.get("view_version")
            if op == "start":
                c.items = [(i["code"], len(i["options"])) for i in view["items"]]
                if not c.items:
                    return
            done.append(time.perf_counter() - t0)

    await asyncio.gather(*(one(c) for c in candidates))
    return {
        "requests": len(candidates),
        "served": len(done),
        "all_served_s": max(done) if len(done) == len(candidates) else None,
        "last_served_s": max(done) if done else None,
    }


async def save(c: Candidate, rng: random.Random, ledger: list[dict[str, Any]], rec: Recorder) -> None:
    if rng.random() < 0.2 and c.next_item > 0:
        code, n = c.items[rng.randrange(c.next_item)]  # a change of mind on an earlier item
    else:
        code, n = c.items[c.next_item % len(c.items)]
        c.next_item = min(c.next_item + 1, len(c.items))
    c.seq += 1
    body = {"item": code, "response": _choice_response(n, rng), "flagged": None, "seq": c.seq}
    body["key"] = uuid.uuid4().hex
    for attempt in range(SAVE_RETRIES + 1):
        status, raw = await c.call(
            "save" if attempt == 0 else "save_retry",
            "POST",
            "/api/v1/sitting/answers",
            json_body=body,
            headers={"X-Sitting-Token": c.token},
        )
        if status == 200:
            answer = json.loads(raw)
            ledger.append(
                {
                    "attempt": c.attempt_id,
                    "key": body["key"],
                    "item": code,
                    "seq": c.seq,
                    "applied": answer["applied"],
                }
            )
            return
        if 400 <= status < 500:
            return  # refused for a reason a retry would not change: counted as an error
        await asyncio.sleep(min(2.0, 0.25 * 2**attempt))
    rec.add("save_gave_up", 0.0, "gave_up")


async def steady(
    candidates: list[Candidate],
    proctors: list[tuple[Browser, int]],
    spec: dict[str, Any],
    rng: random.Random,
    rec: Recorder,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    speedup = spec["speedup"]
    t_start = time.perf_counter()
    t_end = t_start + spec["duration"]
    ledger: list[dict[str, Any]] = []

    async def candidate_saves(c: Candidate) -> None:
        await asyncio.sleep(rng.uniform(0, spec["save_max"] / speedup))
        while time.perf_counter() < t_end:
            await save(c, rng, ledger, rec)
            await asyncio.sleep(rng.uniform(spec["save_min"], spec["save_max"]) / speedup)

    async def candidate_heartbeats(c: Candidate) -> None:
        period = spec["heartbeat"] / speedup
        await asyncio.sleep(rng.uniform(0, period))
        while time.perf_counter() < t_end:
            t = time.perf_counter()
            status, body = await c.call(
                "heartbeat", "POST", "/api/v1/sitting/heartbeat", headers={"X-Sitting-Token": c.token}
            )
            # the page reads the whole view only when the pulse's version differs from the one it holds
            pulse = json.loads(body) if status == 200 else {}
            if status == 200 and pulse.get("view_version") != c.view_version:
                status, body = await c.call("view", "GET", "/api/v1/sitting")
                if status == 200:
                    c.view_version = json.loads(body).get("view_version")
            await asyncio.sleep(max(0.0, period - (time.perf_counter() - t)))

    async def proctor_grid(p: Browser, session_id: int) -> None:
        period = spec["grid"]
        await asyncio.sleep(rng.uniform(0, period))
        while time.perf_counter() < t_end:
            t = time.perf_counter()
            await p.call("grid", "GET", f"/api/v1/proctor/sessions/{session_id}/grid")
            await asyncio.sleep(max(0.0, period - (time.perf_counter() - t)))

    tasks = [candidate_saves(c) for c in candidates if c.items]
    if spec["heartbeat"] > 0:
        tasks += [candidate_heartbeats(c) for c in candidates if c.items]
    if spec["grid"] > 0:
        tasks += [proctor_grid(p, s) for p, s in proctors]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t_start
    return ledger, {"elapsed_s": elapsed}


async def main_async(spec: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(spec.get("seed", 20261124))
    rec = Recorder()
    connector = aiohttp.TCPConnector(limit=spec.get("connections", 0), force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    result: dict[str, Any] = {"phases": {}}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        base = spec["base_url"]
        candidates = [
            Candidate(http, base, rec, c["username"], attempt_id=c["attempt_id"]) for c in spec["candidates"]
        ]
        proctors = [(Browser(http, base, rec, p["username"]), p["session_id"]) for p in spec["proctors"]]

        t = time.perf_counter()
        signed = await _bounded(
            spec.get("sign_in_concurrency", 32),
            [b.sign_in(spec["password"]) for b in [*candidates, *(p for p, _ in proctors)]],
        )
        result["phases"]["sign_in"] = {"elapsed_s": time.perf_counter() - t, "failed": signed.count(False)}

        result["phases"]["check_in"] = await herd(candidates, "check_in", spec["herd_spread"], rng)
        result["phases"]["start"] = await herd(candidates, "start", spec["herd_spread"], rng)
        if spec["duration"] > 0:
            ledger, info = await steady(candidates, proctors, spec, rng, rec)
        else:
            ledger, info = [], {"elapsed_s": 0.0}
        result["phases"]["steady"] = info
    result["ops"] = {
        op: {**_percentiles(rec.latency[op]), "status": dict(rec.status[op]), "errors": rec.errors(op)}
        for op in sorted(rec.status)
    }
    result["ledger"] = ledger
    return result


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    result = asyncio.run(main_async(spec))
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
