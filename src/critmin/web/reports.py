"""Report content per stored run, computed once in a background job and kept in memory.

:func:`critmin.report.report_content` re-runs a stored run (seconds; an ensemble's draws take
longer), so the dashboard computes it in a job (:meth:`ReportCache.job_for`: one job per run at a
time, however many pages ask) and keeps the last :data:`KEEP` contents for the run page, the
comparison and the HTML download.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from critmin.jobs import load_chain
from critmin.report import ReportContent, report_content
from critmin.store import Store
from critmin.web.runner import Job, JobRunner

#: report contents kept in memory (the least recently used is dropped first)
KEEP = 16


class ReportCache:
    """Computed report contents by run id, and the job computing each one."""

    def __init__(self, keep: int = KEEP) -> None:
        self._contents: OrderedDict[str, ReportContent] = OrderedDict()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def get(self, run_id: str) -> ReportContent | None:
        """The content of ``run_id``'s report, if computed."""
        with self._lock:
            content = self._contents.get(run_id)
            if content is not None:
                self._contents.move_to_end(run_id)
            return content

    def put(self, run_id: str, content: ReportContent) -> None:
        """Keep ``content`` as ``run_id``'s report."""
        with self._lock:
            self._contents[run_id] = content
            self._contents.move_to_end(run_id)
            while len(self._contents) > self._keep:
                self._contents.popitem(last=False)

    def job_for(self, run_id: str, runner: JobRunner, store: Store, draws: int | None) -> Job:
        """The job that computes ``run_id``'s report: the one already queued or running, or a new
        one (done at once when the content is kept)."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None and job.state in ("queued", "running"):
                return job
            job = runner.submit("report", f"report of {run_id}", self._work(run_id, store), total=draws)
            self._jobs[run_id] = job
            return job

    def _work(self, run_id: str, store: Store) -> Callable[[Callable[[int], None]], dict[str, Any]]:
        def work(progress: Callable[[int], None]) -> dict[str, Any]:
            if self.get(run_id) is None:
                content = report_content(run_id, load_chain(store), store, progress=progress)
                self.put(run_id, content)
            return {"run_id": run_id, "report": f"/api/runs/{run_id}/report"}

        return work
