"""Word-synced LRC through HTTP, from a finished job's stored word timings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from support import bearer, make_account, make_token


def test_lrc_with_words_over_the_api(client: TestClient, tone: Path, run_job: Any) -> None:
    token = make_token(client, make_account(client))["token"]
    with tone.open("rb") as fh:
        job_id = client.post(
            "/api/v1/transcriptions", headers=bearer(token), files={"file": ("t.flac", fh)}
        ).json()["job_id"]
    assert run_job(job_id) == "done"
    url = f"/api/v1/transcriptions/{job_id}/export"
    plain = client.get(url, params={"format": "lrc"}, headers=bearer(token)).text
    enhanced = client.get(url, params={"format": "lrc", "words": "true"}, headers=bearer(token))
    assert enhanced.status_code == 200
    assert "<" not in plain
    lines = [ln for ln in enhanced.text.splitlines() if "<" in ln]
    assert len(lines) == 2  # both fake lines have word timings
    stamp = r"\d\d:\d\d\.\d\d"
    for line in lines:
        assert re.fullmatch(rf"\[{stamp}\]( <{stamp}> \S+)+ <{stamp}>", line), line
    assert (
        "<"
        not in client.get(
            url, params={"format": "srt", "words": "true"}, headers=bearer(token)
        ).text
    )
    bad = client.get(url, params={"format": "lrc", "words": "sometimes"}, headers=bearer(token))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
