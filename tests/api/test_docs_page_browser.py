"""The API docs page (GET /api/docs) in headless Chromium: every operation that takes a body
shows an example body (valid JSON; the declared example where there is one) and its fields,
with the schema's $refs resolved, not printed."""

from __future__ import annotations

import json
import os
import shutil

import httpx
import pytest

from testsupport.host import start_host

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


@pytest.mark.skipif(
    not shutil.which("chromium") and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed (apt-get install -y chromium)",
)
def test_every_request_body_has_an_example_and_its_fields() -> None:
    from playwright.sync_api import sync_playwright

    with start_host({"RELAY_IN_DEVHOST": "false"}) as host:
        spec = httpx.get(f"{host.base_url}/api/openapi.json", timeout=30).json()
        with_body = [
            (method.upper(), path)
            for path, ops in spec["paths"].items()
            for method, op in ops.items()
            if "requestBody" in op
        ]
        assert len(with_body) >= 10
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.goto(f"{host.base_url}/api/docs")
                page.wait_for_selector("details.op")
                ops = page.eval_on_selector_all(
                    "details.op",
                    """(nodes) => nodes.map((n) => ({
                        method: n.querySelector(".m").textContent,
                        path: n.querySelector("summary code").textContent,
                        example: n.querySelector("pre.example")?.textContent ?? null,
                        fields: [...n.querySelectorAll("table.fields td:first-child code")]
                            .map((c) => c.textContent),
                        text: n.textContent,
                    }))""",
                )
            finally:
                browser.close()
    shown = {(op["method"], op["path"]): op for op in ops}
    for key in with_body:
        op = shown[key]
        assert op["example"] is not None, key
        json.loads(op["example"])
        assert "$ref" not in op["text"], key
    backtest = shown[("POST", "/api/backtests")]
    declared = spec["paths"]["/api/backtests"]["post"]["requestBody"]["content"]
    example = next(iter(declared["application/json"]["examples"].values()))["value"]
    assert json.loads(backtest["example"]) == example
    assert {"symbols", "strategy", "execution", "metric"} <= set(backtest["fields"])
