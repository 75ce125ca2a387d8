"""Group commit for the gateway: calls that need the database at the same moment share one
transaction, run in a worker thread, and each waits for its own result.

One call alone gets a transaction of its own at once; when 200 are in flight, those arriving
while a transaction runs are served together by the next one. The database work per call (a
transaction, a commit, a thread hop) then shrinks with the load instead of queueing behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Runs ``work`` on the items submitted while the previous batch was being written.

    ``work`` returns one result per item, in order; an exception it returns for an item is
    raised to that item's caller only, one it raises goes to every caller of the batch.
    """

    def __init__(
        self,
        work: Callable[[Sequence[Item]], Sequence[Result | Exception]],
        *,
        discard: Callable[[Result], None] | None = None,
        limit: int = 500,
        linger: float = 0.0,
    ) -> None:
        self.work = work
        self.linger = linger  # seconds a batch waits for company: for work nobody waits on
        self.discard = discard  # undoes a result whose caller has gone (e.g. gate slots)
        self.limit = limit
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running = False

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            if self.linger:
                await asyncio.sleep(self.linger)
            while self._pending:
                batch, self._pending = self._pending[: self.limit], self._pending[self.limit :]
                try:
                    results = await run_in_threadpool(self.work, [item for item, _ in batch])
                except Exception as error:  # every caller of the batch learns of it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        if self.discard is not None and not isinstance(result, Exception):
                            self.discard(result)
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._running = False
