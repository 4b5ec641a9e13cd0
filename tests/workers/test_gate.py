"""The process-local trial gate (the default of a JobStore whose workers share a process)."""

from __future__ import annotations

import threading

from workers._gate import LocalGate


def test_one_start_at_a_time_per_job_and_release_is_idempotent() -> None:
    first, second, other_job = LocalGate("a"), LocalGate("a"), LocalGate("b")
    first.acquire()
    other_job.acquire()  # another job's gate is another lock
    entered = threading.Event()

    def start() -> None:
        second.acquire()
        entered.set()

    thread = threading.Thread(target=start)
    thread.start()
    assert not entered.wait(0.2)  # held by the first
    first.release()
    first.release()  # a second release (the trial's callback, then the slice) is harmless
    assert entered.wait(5.0)
    thread.join()
    second.release()
    other_job.release()
