"""What `make run` serves: the real function_app.py through the host, with every plugin."""

from __future__ import annotations

import httpx
import pytest

from testsupport.host import start_host

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_function_app_serves_health_on_embedded_storage() -> None:
    with start_host(ready_timeout=120) as host:
        response = httpx.get(f"{host.base_url}/api/health", timeout=30)
        listed = httpx.get(f"{host.base_url}/admin/functions", timeout=30).json()
        logs = host.logs
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["storage"]["blob"]["adapter"] == "local"
    assert body["storage"]["documents"]["adapter"] == "sqlite"
    assert "health" in {f["name"] for f in listed}
    assert "ready; Ctrl+C stops" in logs
    assert "Traceback" not in logs
    assert "invocation function=health trigger=httpTrigger" in logs
