"""Bursts and slow clients against a live `tft serve`, over real sockets.

The spec tells every client to poll every 2 s and allows 2 jobs per user and 3 per
address: a burst of submits must end in exactly those admissions, every refusal in
the envelope, no 5xx, no charge for a refusal, and nothing left in the data dir.
Runs on SQLite and, when TFT_TEST_DATABASE_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from audio import write_tone
from jobs.conftest import assert_ledger_consistent
from live import LiveServer, live_server
from textfromtrack.credits.models import CreditEntry
from textfromtrack.db import Database
from textfromtrack.jobs.models import Job

SIGNUP_CREDITS = 10


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("burst-audio")
    return {
        "wav": write_tone(folder / "short.wav", 2.0),
        "mp3": write_tone(folder / "song35.mp3", 35.0),
    }


@pytest.fixture
def server(tmp_path: Path, model_cache: Path, database_url: str) -> Iterator[LiveServer]:
    env = {
        "TFT_DATABASE_URL": database_url,
        # Jobs stay pending, so the admitted count is exactly what admission decided.
        "TFT_INLINE_WORKERS": "0",
        "TFT_SIGNUP_CREDITS": str(SIGNUP_CREDITS),
        # Each simulated user sends from its own address through a trusted proxy.
        "TFT_TRUSTED_PROXIES": "127.0.0.1",
        "TFT_MAX_CONCURRENT_UPLOADS": "256",
        "TFT_UPLOAD_TIMEOUT_SECONDS": "3",
    }
    with live_server(tmp_path, model_cache, env) as live:
        yield live


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _burst(
    url: str, requests: list[tuple[str, str, Path]]
) -> list[tuple[int, dict[str, Any], float, dict[str, str]]]:
    """Send every (token, client address, file) submit at once; (status, body, seconds, headers)."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    bodies = {path: path.read_bytes() for _, _, path in requests}
    async with httpx.AsyncClient(base_url=url, timeout=120.0, limits=limits) as client:
        start = asyncio.Event()

        async def one(token: str, address: str, path: Path) -> Any:
            await start.wait()
            began = time.perf_counter()
            r = await client.post(
                "/api/v1/transcriptions",
                headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": address},
                files={"file": (path.name, bodies[path], "application/octet-stream")},
            )
            return r.status_code, r.json(), time.perf_counter() - began, dict(r.headers)

        tasks = [asyncio.create_task(one(*req)) for req in requests]
        await asyncio.sleep(0.05)
        start.set()
        return list(await asyncio.gather(*tasks))


def _check_refusals(results: list[tuple[int, dict[str, Any], float, dict[str, str]]]) -> None:
    for status, body, _, headers in results:
        assert status < 500, body
        if status == 201:
            assert set(body) >= {"job_id", "status", "credits_quoted"}, body
            continue
        assert status == 429, body
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == "rate_limited", body
        assert int(headers["retry-after"]) >= 1


def _summary(results: list[tuple[int, dict[str, Any], float, dict[str, str]]]) -> dict[str, Any]:
    seconds = [r[2] for r in results]
    statuses = Counter(r[0] for r in results)
    return {
        "requests": len(results),
        "accepted": statuses.get(201, 0),
        "429": statuses.get(429, 0),
        "5xx": sum(n for s, n in statuses.items() if s >= 500),
        "p50_s": round(_percentile(seconds, 0.5), 3),
        "p99_s": round(_percentile(seconds, 0.99), 3),
    }


def _assert_books_balanced(database_url: str, users: int, admitted: int) -> None:
    db = Database(database_url)
    try:
        assert_ledger_consistent(db)
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Job)) == admitted
            total = s.scalar(select(func.sum(CreditEntry.amount))) or 0
        assert total == users * SIGNUP_CREDITS - admitted
    finally:
        db.dispose()


def _uploads(server: LiveServer) -> list[str]:
    folder = server.data_dir / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_hundred_parallel_submits_from_one_user(
    server: LiveServer, clips: dict[str, Path], database_url: str
) -> None:
    token = server.new_token()
    requests = [(token, "10.1.0.1", clips["mp3" if i % 2 else "wav"]) for i in range(100)]
    results = asyncio.run(_burst(server.url, requests))
    _check_refusals(results)
    summary = _summary(results)
    print(json.dumps({"burst": "one user", **summary}))
    assert summary["5xx"] == 0
    assert summary["accepted"] == 2  # the per-user limit, exactly
    _assert_books_balanced(database_url, users=1, admitted=2)
    assert len(_uploads(server)) == 2  # the refused ones left nothing behind


def test_two_hundred_parallel_submits_from_fifty_users(
    server: LiveServer, clips: dict[str, Path], database_url: str
) -> None:
    tokens = [server.new_token() for _ in range(50)]
    requests = [
        (token, f"10.2.{n}.1", clips["mp3" if k % 2 else "wav"])
        for n, token in enumerate(tokens)
        for k in range(4)
    ]
    results = asyncio.run(_burst(server.url, requests))
    _check_refusals(results)
    summary = _summary(results)
    print(json.dumps({"burst": "fifty users", **summary}))
    assert summary["5xx"] == 0
    assert summary["accepted"] == 100  # two for each user, none over
    per_user = Counter(req[0] for req, res in zip(requests, results, strict=True) if res[0] == 201)
    assert set(per_user.values()) == {2}
    _assert_books_balanced(database_url, users=50, admitted=100)


def test_the_per_address_limit_holds_in_a_burst_from_many_accounts(
    server: LiveServer, clips: dict[str, Path], database_url: str
) -> None:
    tokens = [server.new_token() for _ in range(8)]
    requests = [(token, "10.3.0.1", clips["wav"]) for token in tokens for _ in range(2)]
    results = asyncio.run(_burst(server.url, requests))
    _check_refusals(results)
    assert _summary(results)["accepted"] == 3  # the per-address limit
    _assert_books_balanced(database_url, users=8, admitted=3)


async def _slow_upload(
    host: str, port: int, token: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Declare 50 MB, send 100 bytes of it, and then nothing; the connection stays open."""
    reader, writer = await asyncio.open_connection(host, port)
    boundary = "slowclientboundary"
    writer.write(
        (
            "POST /api/v1/transcriptions HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
        ).encode()
        + (
            f"--{boundary}\r\nContent-Disposition: form-data; name=file; "
            'filename="slow.wav"\r\n\r\n'
        ).encode()[:100]
    )
    await writer.drain()
    return reader, writer  # the writer too: dropping it would close the connection


async def _status_of(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> int:
    line = await connection[0].readline()
    connection[1].close()
    return int(line.split()[1]) if line else 0


def test_a_thousand_slow_uploads_do_not_lock_out_a_normal_client(
    server: LiveServer, clips: dict[str, Path]
) -> None:
    attacker, user = server.new_token(), server.new_token()
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])

    normal_body = clips["wav"].read_bytes()

    async def scenario() -> tuple[Counter[int], float, int, float]:
        slow = await asyncio.gather(*(_slow_upload(host, port, attacker) for _ in range(1000)))
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            began = time.perf_counter()
            r = await client.post(
                "/api/v1/transcriptions",
                headers={"Authorization": f"Bearer {user}", "X-Forwarded-For": "10.9.9.9"},
                files={"file": ("short.wav", normal_body)},
            )
            normal = time.perf_counter() - began
        # Every slow upload is answered: 429 for those over the limits at once, and 408
        # for the few that got a slot, once the deadline (3 s here) has passed.
        began = time.perf_counter()
        statuses = Counter(
            await asyncio.wait_for(asyncio.gather(*(_status_of(c) for c in slow)), 30)
        )
        return statuses, normal, r.status_code, time.perf_counter() - began

    statuses, normal_seconds, normal_status, answered_within = asyncio.run(scenario())
    print(json.dumps({"slow_clients": dict(statuses), "normal_client_s": round(normal_seconds, 3)}))
    # The bound is 5 s on a machine doing nothing else (measured 1.1-2.7 s); in
    # the parallel suite three other workers share the two cores, so twice that.
    bound = 10.0 if os.environ.get("PYTEST_XDIST_WORKER") else 5.0
    assert normal_status == 201 and normal_seconds < bound
    assert statuses[408] >= 1 and statuses[408] + statuses[429] == 1000
    assert answered_within < 15
    assert _uploads(server) and len(_uploads(server)) == 1  # only the normal client's


def test_an_upload_past_the_deadline_is_408_in_the_envelope_and_frees_the_slot(
    server: LiveServer, clips: dict[str, Path]
) -> None:
    token = server.new_token()
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])

    async def slow_then_body() -> tuple[int, bytes]:
        reader, _writer = await _slow_upload(host, port, token)
        second = await _slow_upload(host, port, token)  # the account's second slot, held too
        response = await asyncio.wait_for(reader.read(), 20)
        await _status_of(second)
        return int(response.split()[1]), response

    status, raw = asyncio.run(slow_then_body())
    assert status == 408
    body = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["details"]["timeout_seconds"] == 3
    time.sleep(0.5)
    # Both slots are free again: the same account uploads at once.
    r = httpx.post(
        f"{server.api}/transcriptions",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("short.wav", clips["wav"].read_bytes())},
        timeout=30,
    )
    assert r.status_code == 201, r.text
