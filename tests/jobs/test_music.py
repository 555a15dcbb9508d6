"""Music mode end to end over HTTP: vintage jobs, the automatic retry, pinyin and script.

The retry is forced with a real setting, not a mock of the checker: a standard-attempt
voice threshold of 1.0 makes VAD drop the whole song, so the checker sees an empty
transcript over audio with voice energy, exactly as on a song whose instruments fool VAD.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audio import TESTDATA
from jobs.conftest import assert_ledger_consistent
from jobs.test_e2e import submit, wait
from support import assert_envelope, bearer, make_account, make_token
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.main import create_app

pytestmark = pytest.mark.skipif(not TESTDATA.is_dir(), reason="../shared/testdata is absent")

URL = "/api/v1/transcriptions"
EXCERPT = TESTDATA / "music" / "jamendo_es_Fantasma_Los_Rombos.excerpt_17-51s.mp3"
ZH = TESTDATA / "zh" / "aishell1_BAC009S0724W0121.wav"
PINYIN_RUN = re.compile(
    r"[\u4e00-\u9fff]+\[([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+(?: [a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+)*)\]"
)


def live(settings: Settings, database: Database, **changes: object) -> TestClient:
    return TestClient(
        create_app(settings.model_copy(update={"inline_workers": 1, **changes}), database),
        raise_server_exceptions=False,
    )


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with live(settings, database, separator="spleeter") as c:
        yield c


@pytest.fixture
def token(client: TestClient) -> str:
    return str(make_token(client, make_account(client))["token"])


def test_vintage_job_separates_then_transcribes(
    client: TestClient, token: str, database: Database
) -> None:
    job_id = submit(client, token, EXCERPT, vintage="true")
    created = client.get(f"{URL}/{job_id}", headers=bearer(token)).json()
    assert created["vintage_mode"] is True
    job = wait(client, token, job_id, {"done", "error"}, timeout=300)
    assert job["status"] == "done", job
    assert job["vintage_mode"] is True and job["vocal_separation_used"] is True
    assert job["attempts"] == 1 and job["credits_charged"] == 1
    (attempt,) = job["attempts_log"]
    assert attempt["pipeline"] == "vintage" and attempt["separator"] == "spleeter-2stems"
    assert attempt["verdict"] == "accepted" and "score" in attempt["quality"]
    # Offline, large-v3 cannot load: the job names the model that really ran.
    assert job["model"] == attempt["model"] == "whisper-base"
    assert job["segment_count"] > 0
    assert_ledger_consistent(database)


def test_poor_standard_result_is_retried_with_separation(
    settings: Settings, database: Database
) -> None:
    with live(settings, database, separator="spleeter", vad_threshold=1.0) as client:
        token = str(make_token(client, make_account(client))["token"])
        job_id = submit(client, token, EXCERPT)
        job = wait(client, token, job_id, {"done", "error"}, timeout=300)
    assert job["status"] == "done", job
    assert job["attempts"] == 2 and job["vocal_separation_used"] is True
    assert job["vintage_mode"] is False and job["credits_charged"] == 1
    first, second = job["attempts_log"]
    assert first["pipeline"] == "standard" and first["separator"] is None
    assert "empty_transcript" in first["quality"]["reasons"] and first["verdict"] == "rejected"
    assert second["pipeline"] == "vintage" and second["separator"] == "spleeter-2stems"
    assert (
        second["verdict"] == "accepted" and second["quality"]["score"] > first["quality"]["score"]
    )
    assert job["degraded"] is second["quality"]["poor"]
    assert job["segment_count"] > 0
    assert_ledger_consistent(database)


def test_retry_can_be_switched_off(settings: Settings, database: Database) -> None:
    with live(settings, database, vad_threshold=1.0, quality_retry=False) as client:
        token = str(make_token(client, make_account(client))["token"])
        job = wait(client, token, submit(client, token, EXCERPT), {"done", "error"}, timeout=300)
    assert job["status"] == "done" and job["attempts"] == 1
    assert job["degraded"] is True and job["vocal_separation_used"] is False
    assert job["segment_count"] == 0


@pytest.mark.parametrize(
    ("script", "expect"),
    [
        ("simplified", "广州"),  # Whisper base writes 廣州 for this clip
        ("traditional", "廣州"),
        (None, "广州"),
    ],
)
def test_chinese_script_and_pinyin(
    client: TestClient, token: str, script: str | None, expect: str
) -> None:
    form = {"pinyin": "true", **({"chinese_script": script} if script else {})}
    job_id = submit(client, token, ZH, **form)
    job = wait(client, token, job_id, {"done", "error"})
    assert job["status"] == "done" and job["language"] == "zh" and job["pinyin"] is True
    assert job["chinese_script"] == (script or "simplified")
    text = "".join(
        s["text"]
        for s in client.get(f"{URL}/{job_id}/segments", headers=bearer(token)).json()["segments"]
    )
    assert expect in text
    runs = PINYIN_RUN.findall(text)
    assert runs, text
    for match in PINYIN_RUN.finditer(text):
        han = re.match(r"[\u4e00-\u9fff]+", match.group(0))
        assert han is not None and len(han.group(0)) == len(match.group(1).split())
    lrc = client.get(f"{URL}/{job_id}/export", params={"format": "lrc"}, headers=bearer(token)).text
    assert "[" in lrc and runs[0] in lrc


def test_pinyin_has_no_effect_on_english(client: TestClient, token: str) -> None:
    job_id = submit(client, token, TESTDATA / "en" / "jfk_whisper.flac", pinyin="true")
    job = wait(client, token, job_id, {"done", "error"})
    assert job["status"] == "done"
    text = " ".join(
        s["text"]
        for s in client.get(f"{URL}/{job_id}/segments", headers=bearer(token)).json()["segments"]
    )
    assert "[" not in text and "ask not" in text.lower()


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"pinyin": "true", "vintage": "true"}, "pinyin"),
        ({"chinese_script": "klingon"}, "chinese_script"),
    ],
)
def test_option_errors(client: TestClient, token: str, form: dict[str, str], field: str) -> None:
    with Path(ZH).open("rb") as fh:
        r = client.post(URL, headers=bearer(token), files={"file": (ZH.name, fh)}, data=form)
    err = assert_envelope(r, 400, "validation_error")
    assert field in err["details"]["fields"]
