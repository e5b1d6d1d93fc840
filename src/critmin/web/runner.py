"""Background jobs: what the dashboard computes outside a request (runs, ensembles, reports, the
criticality assessment), with their state and progress for the page to poll.

A job is ``queued``, then ``running``, then ``done`` (with its result, a JSON document) or
``failed`` (with one line: a user's mistake in its own words, anything else by its type, the
traceback going to the server's log). Ensembles report progress as the fraction of draws done.
Jobs run on a few daemon worker threads (default 2: the engine and DuckDB release the GIL, and
a laptop has few cores); each opens what it needs and writes the store in one transaction of
its own, so a job that fails or a server that stops leaves nothing half-written.

>>> runner = JobRunner(workers=1)
>>> job = runner.submit("demo", "add", lambda progress: {"sum": 1 + 1})
>>> runner.wait(job.id, timeout=5).view()["result"]
{'sum': 2}
>>> runner.shutdown()
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from critmin.errors import UserError
from critmin.web.errors import internal_message, one_line

log = logging.getLogger("critmin.web")

#: the states of a job, in order
STATES: tuple[str, ...] = ("queued", "running", "done", "failed")
#: finished jobs kept for the page to read (the oldest are forgotten first)
KEEP_FINISHED = 200

#: a job's work: given a progress callback (draws just finished), returns its JSON document
Work = Callable[[Callable[[int], None]], dict[str, Any]]


@dataclass
class Job:
    """One background job and what the page is shown of it."""

    id: str
    kind: str
    label: str
    total: int | None = None
    state: str = "queued"
    done: int = 0
    error: str | None = None
    result: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    finished_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def progress(self) -> float | None:
        """The fraction done (ensembles: draws done over draws asked; 1 when done), else None."""
        if self.state == "done":
            return 1.0
        if not self.total:
            return None
        return min(self.done / self.total, 1.0)

    def view(self, with_result: bool = True) -> dict[str, Any]:
        """The job as the API shows it."""
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "state": self.state,
            "progress": self.progress,
            "done": self.done,
            "total": self.total,
            "error": self.error,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "seconds": None if self.started is None else (self.finished or time.time()) - self.started,
        }
        if with_result:
            out["result"] = self.result
        return out


class JobRunner:
    """A queue of jobs and the daemon threads that run them, one job per thread at a time."""

    def __init__(self, workers: int = 2, keep: int = KEEP_FINISHED) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Job, Work] | None] = queue.Queue()
        self._keep = keep
        self._threads = [
            threading.Thread(target=self._work, name=f"critmin-job-{i}", daemon=True) for i in range(max(1, workers))
        ]
        for t in self._threads:
            t.start()

    def submit(self, kind: str, label: str, work: Work, total: int | None = None) -> Job:
        """Queue ``work``; returns its job at once."""
        job = Job(secrets.token_hex(8), kind, label, total)
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
        self._queue.put((job, work))
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with ``job_id`` (None when unknown or forgotten)."""
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        """Every job kept, newest first."""
        with self._lock:
            return list(reversed(self._jobs.values()))

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished (or ``timeout`` seconds passed); returns it."""
        job = self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        job.finished_event.wait(timeout)
        return job

    def shutdown(self) -> None:
        """Stop taking jobs: the workers end after the job each is running (daemon threads: a
        server that exits does not wait for them)."""
        for _ in self._threads:
            self._queue.put(None)

    # -- workers -----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, work = item
            self._run(job, work)

    def _run(self, job: Job, work: Work) -> None:
        with self._lock:
            job.state = "running"
            job.started = time.time()

        def progress(n: int) -> None:
            with self._lock:
                job.done += int(n)

        try:
            result = work(progress)
        except UserError as exc:
            self._finish(job, error=one_line(exc))
        except Exception as exc:
            log.exception("job %s (%s: %s) failed", job.id, job.kind, job.label)
            self._finish(job, error=internal_message(exc))
        else:
            self._finish(job, result=result)

    def _finish(self, job: Job, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self._lock:
            job.result = result
            job.error = error
            job.state = "failed" if error is not None else "done"
            job.finished = time.time()
        job.finished_event.set()

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.state in ("done", "failed")]
        for job_id in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[job_id]
