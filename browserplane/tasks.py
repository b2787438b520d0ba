"""Ending asyncio tasks that must end."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task | None, timeout: float = 5.0) -> None:
    """Cancels `task` and waits until it has ended, cancelling again while it runs on.

    One `cancel()` is not always enough on Python 3.11: `asyncio.wait_for` swallows the
    cancellation when the future it waits on completes in the same loop iteration (fixed in
    3.12), and the task then carries on to its next await, possibly one that never ends (a CDP
    connection's `closed`). A session's stop waited on such a task for good, and its browser
    outlived the session. Never raises; gives up (logged) after `timeout`."""
    if task is None or task.done():
        return
    deadline = asyncio.get_running_loop().time() + timeout
    while not task.done():
        task.cancel()
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            log.warning("a task did not end when cancelled", extra={"fields": {
                "task": task.get_name()}})
            return
        await asyncio.wait({task}, timeout=min(0.5, left))
    if not task.cancelled() and task.exception() is not None:
        log.debug("a cancelled task ended with an error", exc_info=task.exception())
