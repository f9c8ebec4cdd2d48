"""local.settings.example.json (the Azurite profile) names only real settings and validates."""

from __future__ import annotations

import json

import pytest

from devhost.localsettings import read_values
from shared.config import load_settings
from testsupport.host import REPO

EXAMPLE = REPO / "local.settings.example.json"


def test_example_names_only_known_settings() -> None:
    values = read_values(EXAMPLE)
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"


def test_every_trigger_connection_of_the_app_is_a_known_setting() -> None:
    import function_app
    from devhost.localsettings import check_name

    connections = {
        binding["connection"]
        for function in function_app.app.get_functions()
        for binding in json.loads(function.get_function_json())["bindings"]
        if binding.get("connection")
    }
    assert connections == {"COSMOS"}
    for name in connections:
        check_name(name)
        check_name(f"{name}__accountEndpoint")
    assert "COSMOS" in read_values(EXAMPLE), "func start with the emulator needs it"


def test_example_values_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in read_values(EXAMPLE).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.blob_backend == "azure"
    assert settings.document_backend == "cosmos"
    assert settings.cosmos_endpoint_discovery is False


def test_example_is_kept_out_of_the_deployment() -> None:
    assert "local.settings.example.json" in (REPO / ".funcignore").read_text().split()
    assert json.loads(EXAMPLE.read_text())["IsEncrypted"] is False
