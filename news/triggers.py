"""Start a fetch from any entry point: one lock, one queue, one code path.

Interface shared by the HTTP view, the admin, the command and the schedule.
"""


class AlreadyRunning(Exception):
    """A fetch run is active; `run` is that FetchRun."""

    def __init__(self, run):
        super().__init__(f"fetch run #{run.pk} is already {run.status}")
        self.run = run


class QueueUnavailable(Exception):
    """Redis could not be reached; the run was marked failed with the reason."""

    def __init__(self, message, run=None):
        super().__init__(message)
        self.run = run


def start_fetch(trigger, user=None, sources=None):
    """Take the lock, create a queued FetchRun, enqueue its job, return the run.

    Raises AlreadyRunning when another run holds the lock, and
    QueueUnavailable when Redis cannot be reached.
    """
    raise NotImplementedError("start_fetch is being built")
