"""The background worker of the web app's evaluation runs: one thread by default (the machine's
cores belong to DuckDB inside each run), progress kept in memory for the status page, queued runs
resumed when the server starts again."""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from steward.audit.context import AuditContext
from steward.db.session import StewardSession, unit_of_work
from steward.workbench.runs import execute, requeue_interrupted

LOG = logging.getLogger("steward.workbench")
SYSTEM = AuditContext(actor="system:workbench", request_id="workbench-resume")


class RunWorker:
    """Executes evaluation runs in the background and reports their progress."""

    def __init__(self, sessions: sessionmaker[StewardSession], home: Path, threads: int = 1):
        self._sessions = sessions
        self._home = home
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="evaluation")
        self._progress: dict[uuid.UUID, float] = {}
        self._lock = threading.Lock()

    def submit(self, run_id: uuid.UUID, context: AuditContext) -> None:
        """Queue ``run_id`` (already committed as queued) for execution."""
        with self._lock:
            self._progress[run_id] = 0.0
        self._pool.submit(self._run, run_id, context)

    def progress(self, run_id: uuid.UUID) -> float | None:
        with self._lock:
            return self._progress.get(run_id)

    def start(self) -> None:
        try:
            resumed = self.resume()
        except SQLAlchemyError:
            # The server still starts (health then reports the database); runs resume next start.
            LOG.warning("could not resume evaluation runs: the database is unavailable")
            return
        if resumed:
            LOG.info("resumed %d unfinished evaluation runs", resumed)

    def resume(self) -> int:
        """Queue again the runs a stopped server left unfinished; returns how many."""
        with unit_of_work(self._sessions, SYSTEM) as session:
            queued = requeue_interrupted(session)
        for run_id in queued:
            self.submit(run_id, SYSTEM)
        return len(queued)

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, run_id: uuid.UUID, context: AuditContext) -> None:
        def report(fraction: float) -> None:
            with self._lock:
                self._progress[run_id] = min(max(fraction, 0.0), 1.0)

        try:
            execute(self._sessions, self._home, run_id, context, report)
        finally:
            with self._lock:
                self._progress.pop(run_id, None)
