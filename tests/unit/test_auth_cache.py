"""AuthCache: cached callers expire, and requests that miss together share one look-up."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from textfromtrack.deps import ApiCaller, AuthCache


def _caller(name: str = "alice") -> ApiCaller:
    # The cache never looks inside a caller; a marker object stands in for the rows.
    return cast(ApiCaller, object.__new__(type(name, (), {})))


class Loader:
    """A look-up that counts its calls and returns when told to."""

    def __init__(self, result: ApiCaller | None = None, error: Exception | None = None) -> None:
        self.calls = 0
        self.result, self.error = result, error
        self.release = asyncio.Event()

    async def __call__(self) -> ApiCaller | None:
        self.calls += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.result


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.mark.parametrize("ttl", [2.0, 0.0])
def test_a_thousand_misses_together_cost_one_look_up(ttl: float) -> None:
    async def scenario() -> tuple[list[ApiCaller | None], int, ApiCaller | None]:
        cache, found = AuthCache(ttl), _caller()
        load = Loader(found)
        waiters = [asyncio.create_task(cache.look_up("k", load)) for _ in range(1000)]
        await asyncio.sleep(0)
        load.release.set()
        return await asyncio.gather(*waiters), load.calls, cache.get("k")

    results, calls, cached = _run(scenario())
    assert calls == 1
    assert len({id(r) for r in results}) == 1 and results[0] is not None
    # With the cache off (ttl 0) the look-up is still shared, but nothing is kept.
    assert (cached is results[0]) if ttl else cached is None


def test_different_tokens_are_looked_up_apart() -> None:
    async def scenario() -> tuple[int, int, bool]:
        cache = AuthCache(2.0)
        a, b = Loader(_caller("a")), Loader(_caller("b"))
        tasks = [asyncio.create_task(cache.look_up(k, load)) for k, load in (("a", a), ("b", b))]
        await asyncio.sleep(0)
        a.release.set()
        b.release.set()
        got = await asyncio.gather(*tasks)
        return a.calls, b.calls, got[0] is not got[1]

    assert _run(scenario()) == (1, 1, True)


def test_an_unknown_token_is_not_cached_and_is_looked_up_again() -> None:
    async def scenario() -> tuple[list[ApiCaller | None], int]:
        cache, load = AuthCache(2.0), Loader(None)
        load.release.set()
        first = await cache.look_up("k", load)
        second = await cache.look_up("k", load)
        return [first, second], load.calls

    assert _run(scenario()) == ([None, None], 2)


def test_a_failed_look_up_reaches_every_waiter_and_the_next_one_retries() -> None:
    async def scenario() -> tuple[list[object], int, ApiCaller | None]:
        cache, load = AuthCache(2.0), Loader(error=RuntimeError("database down"))
        waiters = [asyncio.create_task(cache.look_up("k", load)) for _ in range(3)]
        await asyncio.sleep(0)
        load.release.set()
        outcomes = await asyncio.gather(*waiters, return_exceptions=True)
        retry = Loader(_caller())
        retry.release.set()
        return outcomes, retry.calls + load.calls, await cache.look_up("k", retry)

    outcomes, calls, found = _run(scenario())
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert calls == 1 and found is not None  # the retry ran: nothing stale was shared


def test_a_waiter_that_hangs_up_does_not_cancel_the_others() -> None:
    async def scenario() -> tuple[ApiCaller | None, bool]:
        cache, found = AuthCache(2.0), _caller()
        load = Loader(found)
        leaver = asyncio.create_task(cache.look_up("k", load))
        stayer = asyncio.create_task(cache.look_up("k", load))
        await asyncio.sleep(0)
        leaver.cancel()
        await asyncio.sleep(0)
        load.release.set()
        return await stayer, leaver.cancelled()

    found, cancelled = _run(scenario())
    assert found is not None and cancelled


def test_a_revocation_during_a_look_up_keeps_its_result_out_of_the_cache() -> None:
    async def scenario() -> tuple[ApiCaller | None, ApiCaller | None]:
        cache = AuthCache(2.0)
        load = Loader(_caller())
        waiter = asyncio.create_task(cache.look_up("k", load))
        await asyncio.sleep(0)
        cache.clear()  # a token revoked through this process while the row was being read
        load.release.set()
        return await waiter, cache.get("k")

    answered, cached = _run(scenario())
    assert answered is not None  # the request that asked before the revocation is answered
    assert cached is None  # but the next one reads the row again


def test_each_event_loop_has_its_own_look_ups() -> None:
    # A test client runs the same app in one loop after another: a look-up left pending
    # by a closed loop must not be awaited from the next one.
    cache, stuck = AuthCache(2.0), Loader(_caller())

    async def abandon() -> None:
        asyncio.get_running_loop().create_task(cache.look_up("k", stuck))
        await asyncio.sleep(0)

    _run(abandon())

    async def again() -> ApiCaller | None:
        fresh = Loader(_caller())
        fresh.release.set()
        return await cache.look_up("k", fresh)

    assert _run(again()) is not None


def test_entries_expire_after_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("textfromtrack.deps.time.monotonic", lambda: now[0])
    cache, found = AuthCache(2.0), _caller()
    cache.put("k", found)
    now[0] += 2.0
    assert cache.get("k") is found
    now[0] += 0.01
    assert cache.get("k") is None
