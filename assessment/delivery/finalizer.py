"""The server job that closes sections whose time ran out while the candidate was away, and moves the
item exposure rows written by Starts into the items' counters (so the bank's figures are at most one period
behind; exposure control reads the rows not yet moved as well).

Production runs ``flask delivery finalize --every 10`` as its own process (one is enough; running two is
harmless because closing a section is a conditional update). A single-process development server can run it
as a thread instead (``DELIVERY_FINALIZER_SECONDS``).
"""

from __future__ import annotations

import threading

from flask import Flask

from assessment.delivery import services
from assessment.delivery.clock import db_now
from assessment.extensions import db


def run_once(app: Flask) -> int:
    with app.app_context():
        try:
            closed = services.finalize_overdue(now=db_now())
            services.aggregate_exposure()
            return closed
        finally:
            db.session.remove()


def start_thread(app: Flask, every: float, stop: threading.Event | None = None) -> threading.Event:
    """Run the job every ``every`` seconds in a daemon thread until the returned event is set."""
    stop = stop or threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                run_once(app)
            except Exception:  # keep the loop alive; the next tick tries again
                app.logger.exception("finalizing overdue sections failed")
            stop.wait(every)

    threading.Thread(target=loop, name="delivery-finalizer", daemon=True).start()
    return stop
