"""Timers through a real host process: on their NCRONTAB schedule and on demand (admin API)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import httpx
import pytest

from testsupport.host import start_host

pytestmark = pytest.mark.e2e

SAMPLE = "tests.devhost.sample_app:app"


def _records(data_dir: Path | None, kind: str) -> list[dict[str, object]]:
    assert data_dir is not None
    path = data_dir / f"{kind}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_six_field_schedule_fires_every_second() -> None:
    env = {"SAMPLE_SCHEDULE": "* * * * * *"}
    with start_host(env, timers=True, app=SAMPLE, args=["--no-plugins"]) as host:
        host.wait_for_log(r"invocation function=ticker trigger=timerTrigger", count=3, timeout=8)
        records = _records(host.data_dir, "ticker")
        assert "* * * * * *" in host.logs
    assert len(records) >= 3
    stamps = [float(r["at"]) for r in records]  # type: ignore[arg-type]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(0.7 < gap < 1.3 for gap in gaps), gaps
    assert all(abs(s - round(s)) < 0.25 for s in stamps), "fires on whole seconds"
    assert not any(r["past_due"] for r in records)


def test_timers_off_and_admin_runs_one_on_demand() -> None:
    env = {"SAMPLE_SCHEDULE": "* * * * * *"}
    with start_host(env, timers=False, app=SAMPLE, args=["--no-plugins"]) as host:
        time.sleep(1.5)
        assert host.invocations("ticker") == []
        with httpx.Client(base_url=host.base_url, timeout=10) as client:
            response = client.post("/admin/functions/yearly", json={"input": ""})
            assert response.status_code == 202
            host.wait_for_log(r"invocation function=yearly trigger=timerTrigger .*outcome=ok")
            assert client.post("/admin/functions/nosuch", json={"input": ""}).status_code == 404
            assert client.post("/admin/functions/health", json={}).status_code == 400
            listed = client.get("/admin/functions").json()
        records = _records(host.data_dir, "yearly")
    assert {f["name"] for f in listed} >= {"health", "ticker", "yearly"}
    assert len(records) == 1
    assert records[0]["type"] == "TimerRequest"
    assert records[0]["past_due"] is False
    assert records[0]["function"] == "yearly"
    assert records[0]["invocation_id"]
