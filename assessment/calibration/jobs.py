"""Where calibration runs execute: an RQ worker when Redis is configured, otherwise a thread in this process.

Run workers with ``flask calibration worker`` (or ``rq worker calibration`` with the same environment).
Either way the run's state lives in SQL, so a lost job is visible as a run stuck in "queued" and can be
started again; nothing in Redis is needed to read results.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app

from assessment.calibration.models import CalibrationRun
from assessment.extensions import db, redis_store

QUEUE = "calibration"
JOB_TIMEOUT = 6 * 3600


def _run_in_app(app: Flask, run_id: int) -> None:
    from assessment.calibration.services import execute_run

    with app.app_context():
        try:
            execute_run(run_id)
        finally:
            db.session.remove()


def rq_job(run_id: int) -> str:
    """The RQ job: runs in the current app if there is one, else in one built from the environment."""
    from flask import has_app_context

    if has_app_context():
        from assessment.calibration.services import execute_run

        return execute_run(run_id).value
    from assessment import create_app

    app = create_app()
    _run_in_app(app, run_id)
    with app.app_context():
        return db.session.get(CalibrationRun, run_id).status.value


def submit(run: CalibrationRun) -> str:
    """Start ``run`` in the background; returns "rq" or "thread"."""
    app = current_app._get_current_object()
    client = redis_store.client_for(app)
    if client is not None and app.config.get("CALIBRATION_EXECUTOR", "rq") == "rq":
        from redis import RedisError
        from rq import Queue

        try:
            job = Queue(QUEUE, connection=client).enqueue(rq_job, run.id, job_timeout=JOB_TIMEOUT)
        except (RedisError, OSError):
            app.logger.warning("Redis unavailable: calibration run %s runs in this process", run.id)
        else:
            run.job_id = job.id
            db.session.commit()
            return "rq"
    thread = threading.Thread(
        target=_run_in_app, args=(app, run.id), name=f"calibration-{run.id}", daemon=True
    )
    thread.start()
    run.job_id = thread.name
    db.session.commit()
    return "thread"
