"""gunicorn in its own process group on 127.0.0.1: started, waited for, measured (CPU) and stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.http.prepare import FAST_ARGON2

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    workers: int
    threads: int
    log: Path

    def cpu_seconds(self) -> float:
        """User+system CPU of the master and its live workers (workers never restart in a clean run)."""
        return _cpu_seconds(self.process.pid) + sum(_cpu_seconds(p) for p in _children(self.process.pid))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: workers finish their requests
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start(
    database_url: str,
    workdir: Path,
    *,
    workers: int,
    threads: int,
    redis_url: str | None = None,
    experiment: str | None = None,
    timeout: float = 60.0,
) -> Server:
    """Start gunicorn (gthread workers) with production-like ``ASSESSMENT_*`` settings on loopback."""
    port = free_port()
    log = workdir / "gunicorn.log"
    env = dict(os.environ)
    env.update(
        ASSESSMENT_DATABASE_URL=database_url,
        ASSESSMENT_SECRET_KEY=os.urandom(32).hex(),
        BENCH_HTTP_OVERRIDES=json.dumps(
            {"ARGON2_PARAMETERS": FAST_ARGON2, "LOGIN_LIMIT_PER_IP": "100000 per minute"}
        ),
    )
    if redis_url:
        env["ASSESSMENT_REDIS_URL"] = redis_url
    if experiment:
        env["BENCH_HTTP_EXPERIMENT"] = experiment
    # production mode needs PostgreSQL and Redis; otherwise the app runs on its defaults (never in debug)
    if redis_url and database_url.startswith("postgresql"):
        env["ASSESSMENT_ENV"] = "production"
    else:
        env.pop("ASSESSMENT_ENV", None)
    # Each worker compiles the message catalogues at start-up into the shared instance folder, through one
    # fixed temporary name: workers racing there can fail to boot (seen here). Compile once beforehand.
    from assessment.i18n import compile_catalogues

    compile_catalogues(Path(__file__).resolve().parents[2] / "instance" / "translations")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    args = [
        str(gunicorn),
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--backlog",
        "2048",
        "--timeout",
        "60",
        "--keep-alive",
        "30",  # browsers keep their connection between saves; so does the load generator
        "--error-logfile",
        str(log),
        "--log-level",
        "warning",
        "bench.http.wsgi:create()",
    ]
    process = subprocess.Popen(args, env=env, cwd=Path(__file__).resolve().parents[2], start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200 and len(_children(process.pid)) >= workers:
                    return Server(process, url, workers, threads, log)
        except OSError:
            pass
        time.sleep(0.2)
    Server(process, url, workers, threads, log).stop()
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s; see {log}")
