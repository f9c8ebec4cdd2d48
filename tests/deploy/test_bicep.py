"""The Bicep in bicep/ parses, and provisions what the code reads: every setting, every
Cosmos container (partition key /pk, TTL on), the task hub, identity-only connections."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from shared.config import SettingsError, load_settings
from shared.config import setting_names as shared_setting_names
from shared.storage.documents import CONTAINERS
from tests.deploy import bicep_model as bm

T = TypeVar("T")

RELAY_SETTINGS_MODULE = "containerapps.relay.settings"


def _relay_setting_names() -> set[str]:
    classes = bm.settings_classes(RELAY_SETTINGS_MODULE)
    assert classes, f"{RELAY_SETTINGS_MODULE} defines no BaseSettings class"
    names: set[str] = set()
    for cls in classes:
        names |= bm.env_names(cls)
    return names


def loaded_from(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], load: Callable[[], T], what: str
) -> T:
    """`load()` with `values` as the environment; a SettingsError fails the test with `what`."""
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    try:
        return load()
    except SettingsError as error:
        pytest.fail(f"{what}: {error}")


@pytest.mark.parametrize("path", bm.bicep_files(), ids=lambda p: str(p.relative_to(bm.BICEP)))
def test_every_bicep_file_parses(path: Path) -> None:
    parsed = bm.parse(path)
    assert parsed.get("resources") or parsed.get("modules"), f"{path.name} declares nothing"


def test_every_module_main_uses_exists_and_every_module_is_used() -> None:
    main = bm.parse(bm.MAIN)
    used = {module["detail"]["path"] for module in main["modules"].values()}
    for path in used:
        assert (bm.BICEP / path).is_file(), f"main.bicep uses missing {path}"
    on_disk = {str(p.relative_to(bm.BICEP)) for p in (bm.BICEP / "modules").glob("*.bicep")}
    assert on_disk == used, f"modules not used by main.bicep: {sorted(on_disk - used)}"


def test_every_shared_setting_is_provisioned_on_the_function_app() -> None:
    missing = set(shared_setting_names()) - bm.function_app_settings()
    assert not missing, (
        f"settings in shared/config.py with no app setting in bicep/: {sorted(missing)} — "
        "add them to `appSettings` in bicep/main.bicep"
    )


def test_every_relay_setting_is_provisioned_on_the_container_app() -> None:
    missing = _relay_setting_names() - bm.container_app_settings()
    assert not missing, (
        f"settings in {RELAY_SETTINGS_MODULE} with no env var on the relay: {sorted(missing)} "
        "— add them to `relaySettings` in bicep/main.bicep"
    )


def test_the_relay_also_gets_every_shared_setting() -> None:
    missing = set(shared_setting_names()) - bm.container_app_settings()
    assert not missing, f"the relay reads shared settings it is not given: {sorted(missing)}"


def test_provisioned_settings_load_as_the_apps_would_read_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    main = bm.parse(bm.MAIN)
    params = bm.module_params(main, "modules/functionapp.bicep")
    values = bm.literal_values(params["appSettings"], main)
    assert len(values) > len(shared_setting_names()) // 2, "too few values read statically"
    settings = loaded_from(
        monkeypatch, values, load_settings, "the Function App's app settings do not load"
    )
    assert settings.environment in ("dev", "prod")
    assert settings.blob_backend == "azure"
    assert settings.document_backend == "cosmos"
    assert settings.dev_auth is False, "the dev token issuer must be off in Azure"
    assert not settings.azure_storage_connection_string, "Storage must use the identity"
    assert not settings.cosmos_key, "Cosmos DB must use the identity"
    assert not settings.webpubsub_connection_string, "Web PubSub must use the identity"


def test_every_declared_cosmos_container_is_provisioned_with_pk_and_ttl() -> None:
    parsed = bm.parse(bm.module_file("cosmos"))
    resources = [
        r
        for r in parsed["resources"].values()
        if r["type"] == "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"
    ]
    assert len(resources) == 1, "expected one looped container resource in cosmos.bicep"
    loop = resources[0]["config"]
    source = loop["loop_type"]["detail"]["array_name"]
    declared = {item["name"]: item for item in parsed["variables"][source]["value"]}
    resource = loop["config"]["properties"]["resource"]
    assert resource["partitionKey"]["paths"] == ["/pk"]
    assert resource["partitionKey"]["kind"] == "Hash"

    missing = set(CONTAINERS) - set(declared)
    extra = set(declared) - set(CONTAINERS)
    assert not missing, f"containers in shared/storage/documents.py not in cosmos.bicep: {missing}"
    assert not extra, f"containers in cosmos.bicep the code no longer declares: {extra}"
    for name, spec in CONTAINERS.items():
        ttl = bm.literal(declared[name].get("defaultTtl"))
        assert ttl == spec.default_ttl, f"{name}: defaultTtl {ttl} != code's {spec.default_ttl}"


ORDER_BY = re.compile(r"""order_by\s*=\s*["']([A-Za-z_][\w.]*)["']""")
CODE_DIRS = ("shared", "functions", "durable", "containerapps")


def test_cosmos_indexing_policy_serves_every_order_by_the_code_uses() -> None:
    parsed = bm.parse(bm.module_file("cosmos"))
    policy = parsed["variables"]["indexingPolicy"]["value"]
    assert policy["indexingMode"] == "consistent"
    assert {"path": "/*"} in policy["includedPaths"], "filters need a range index on every path"
    excluded = [p["path"].rstrip("/*?") for p in policy["excludedPaths"]]
    fields = {
        match.group(1)
        for folder in CODE_DIRS
        for path in (bm.ROOT / folder).rglob("*.py")
        for match in ORDER_BY.finditer(path.read_text())
    }
    assert fields, "found no order_by in the code"
    for field in fields:
        path = "/" + field.replace(".", "/")
        assert not any(path.startswith(prefix) for prefix in excluded if prefix), (
            f"ORDER BY {field} needs an index, but {path} is excluded in cosmos.bicep"
        )
    for container in parsed["variables"]["containers"]["value"]:
        for composite in container["compositeIndexes"]:
            assert len(composite) >= 2, f"{container['name']}: a composite needs two paths"


def test_blob_containers_and_task_hub_match_the_code_and_host_json() -> None:
    main = bm.parse(bm.MAIN)
    variables = main["variables"]
    defaults = load_settings()
    for setting in ("lake_container", "raw_container", "results_container", "audit_container"):
        var = re.sub(r"_(\w)", lambda m: m.group(1).upper(), setting)
        assert variables[var]["value"] == getattr(defaults, setting), setting
    host = json.loads((bm.ROOT / "host.json").read_text())
    assert variables["taskHubName"]["value"] == host["extensions"]["durableTask"]["hubName"]
    storage = bm.module_params(main, "modules/storage.bicep")
    assert storage["taskHubName"] == "taskHubName"
    assert set(storage["dataContainers"]) == {
        "lakeContainer",
        "rawContainer",
        "resultsContainer",
        "auditContainer",
    }


def test_function_app_is_flex_consumption_python_311_with_identity_storage() -> None:
    parsed = bm.parse(bm.module_file("functionapp"))
    plan = next(r for r in parsed["resources"].values() if r["type"] == "Microsoft.Web/serverfarms")
    assert plan["config"]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = next(r for r in parsed["resources"].values() if r["type"] == "Microsoft.Web/sites")
    config = site["config"]["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["scaleAndConcurrency"] == {
        "alwaysReady": "alwaysReady",
        "instanceMemoryMB": "instanceMemoryMB",
        "maximumInstanceCount": "maximumInstanceCount",
    }
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    host = {e["name"]: e["value"] for e in parsed["variables"]["hostSettings"]["value"]}
    assert host["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage__accountName" in host
    assert "AzureWebJobs" + "Storage" not in host, "no connection-string storage"
    names = bm.function_app_settings()
    assert not names & {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"}, (
        "Flex Consumption takes the runtime from functionAppConfig, not app settings"
    )


def test_relay_runs_at_most_one_replica_probed_on_healthz_and_readyz() -> None:
    parsed = bm.parse(bm.module_file("containerapps"))
    app = bm.resource(parsed, "Microsoft.App/containerApps")
    template = app["properties"]["template"]
    assert template["scale"] == {"minReplicas": "replicas", "maxReplicas": 1}
    probes = {p["type"]: p["httpGet"]["path"] for p in parsed["variables"]["probes"]["value"]}
    assert probes["Liveness"] == "/healthz"
    assert probes["Readiness"] == "/readyz"
    secrets = parsed["variables"]["secrets"]["value"]["config"]
    assert set(secrets) == {"name", "keyVaultUrl", "identity"}, "relay secrets come from Key Vault"


def _walk(node: Any) -> list[Any]:
    found = [node]
    if isinstance(node, dict):
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def test_no_keys_or_key_bearing_connection_strings() -> None:
    for path in bm.bicep_files():
        text = path.read_text()
        for marker in ("listKeys(", ".listKeys", "AccountKey=", "AccessKey="):
            assert marker not in text, f"{path.name} uses keys ({marker})"
    flags = {
        "Microsoft.Storage/storageAccounts": ("allowSharedKeyAccess", False),
        "Microsoft.DocumentDB/databaseAccounts": ("disableLocalAuth", True),
        "Microsoft.SignalRService/webPubSub": ("disableLocalAuth", True),
        "Microsoft.Insights/components": ("DisableLocalAuth", True),
        "Microsoft.ContainerRegistry/registries": ("adminUserEnabled", False),
    }
    seen: set[str] = set()
    for path in bm.bicep_files():
        for resource in bm.parse(path).get("resources", {}).values():
            if resource["type"] in flags and not resource["existing"]:
                key, expected = flags[resource["type"]]
                assert resource["config"]["properties"][key] is expected, (
                    f"{resource['type']} in {path.name}: {key} must be {expected}"
                )
                seen.add(resource["type"])
    assert seen == set(flags), f"resources not found: {set(flags) - seen}"


def test_every_key_vault_secret_sets_a_content_type() -> None:
    parsed = bm.parse(bm.module_file("keyvault"))
    secrets = [
        r for r in parsed["resources"].values() if r["type"] == "Microsoft.KeyVault/vaults/secrets"
    ]
    assert secrets
    for secret in secrets:
        config = secret["config"].get("config", secret["config"])
        assert config["properties"].get("contentType"), "secret without contentType"


def test_role_assignments_cover_every_data_plane_the_identity_uses() -> None:
    """Which roles, by name; that each id is Microsoft's is tests/deploy/test_references.py."""
    parsed = bm.parse(bm.module_file("roles"))
    names = {role["name"] for role in parsed["variables"]["roles"]["value"].values()}
    assert {
        "Storage Blob Data Owner",  # host storage, deployment package, lake
        "Storage Queue Data Contributor",  # Durable task hub
        "Storage Table Data Contributor",  # Durable task hub
        "Web PubSub Service Owner",
        "Key Vault Secrets User",
        "AcrPull",
        "Monitoring Metrics Publisher",  # Entra ID telemetry ingestion
    } <= names
    types = [r["type"] for r in parsed["resources"].values()]
    assert "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments" in types
    cosmos = parsed["variables"]["cosmosDataContributor"]["value"]
    assert cosmos["name"] == "Cosmos DB Built-in Data Contributor"


def test_outputs_name_the_api_the_feed_hub_and_the_resources() -> None:
    outputs = bm.parse(bm.MAIN)["outputs"]
    for name in (
        "API_URL",
        "FEED_HUB",
        "AZURE_FUNCTION_APP_NAME",
        "RELAY_APP_NAME",
        "STORAGE_ACCOUNT_NAME",
        "COSMOS_ACCOUNT_NAME",
        "KEY_VAULT_NAME",
        "AZURE_CONTAINER_REGISTRY_ENDPOINT",
    ):
        assert name in outputs, f"main.bicep output {name} missing"


def test_parameters_all_have_defaults_except_what_azd_supplies() -> None:
    params = bm.parse(bm.MAIN)["parameters"]
    without_default = {name for name, p in params.items() if p.get("default") is None}
    assert without_default == {"environmentName", "location"}
    main_parameters = json.loads((bm.BICEP / "main.parameters.json").read_text())
    assert set(main_parameters["parameters"]) <= set(params)


def test_azure_yaml_deploys_the_function_app_and_the_relay_image() -> None:
    import yaml

    config = yaml.safe_load((bm.ROOT / "azure.yaml").read_text())
    assert config["infra"] == {"provider": "bicep", "path": "bicep", "module": "main"}
    services = config["services"]
    assert services["api"]["host"] == "function"
    assert services["relay"]["host"] == "containerapp"
    dockerfile = bm.ROOT / services["relay"]["project"] / services["relay"]["docker"]["path"]
    assert dockerfile.is_file(), f"azure.yaml builds the relay from missing {dockerfile}"
    tags = {
        path.name: path.read_text()
        for path in (bm.module_file("functionapp"), bm.module_file("containerapps"))
    }
    assert "'azd-service-name': 'api'" in tags["functionapp.bicep"]
    assert "'azd-service-name': 'relay'" in tags["containerapps.bicep"]


PLATFORM_VARIABLES = re.compile(r"^(FUNCTIONS_|WEBSITE_|CONTAINER_APP_|AZURE_FUNCTIONS_)")
"""Variables the Functions host or Container Apps set themselves."""


def _environment_reads(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        target: ast.expr | None = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            dotted = ast.unparse(func)
            if dotted in ("os.getenv", "os.environ.get", "environ.get", "getenv"):
                target = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in (
            "os.environ",
            "environ",
        ):
            target = node.slice
        elif isinstance(node, ast.Compare) and any(
            ast.unparse(c) in ("os.environ", "environ") for c in node.comparators
        ):
            target = node.left
        if isinstance(target, ast.Constant) and isinstance(target.value, str):
            names.add(target.value)
    return names


def test_deployed_code_reads_no_environment_variable_that_bicep_does_not_set() -> None:
    provided = bm.function_app_settings() | bm.container_app_settings()
    deployed = [bm.ROOT / "function_app.py"]
    for folder in CODE_DIRS:
        deployed += sorted((bm.ROOT / folder).rglob("*.py"))
    unprovided: dict[str, set[str]] = {}
    for path in deployed:
        for name in _environment_reads(path):
            if name not in provided and not PLATFORM_VARIABLES.match(name):
                unprovided.setdefault(name, set()).add(str(path.relative_to(bm.ROOT)))
    assert not unprovided, (
        f"deployed code reads environment variables Bicep does not set: {unprovided} — "
        "add a field to the settings class (and an app setting in bicep/main.bicep)"
    )


def test_the_environment_scan_sees_every_way_of_reading_a_variable(tmp_path: Path) -> None:
    source = tmp_path / "reader.py"
    source.write_text(
        "import os\n"
        "from os import environ, getenv\n"
        "a = os.environ.get('A_SETTING')\n"
        "b = os.getenv('B_SETTING', 'x')\n"
        "c = os.environ['C_SETTING']\n"
        "d = 'D_SETTING' in os.environ\n"
        "e = environ.get('E_SETTING')\n"
        "f = getenv('F_SETTING')\n"
    )
    assert _environment_reads(source) == {f"{x}_SETTING" for x in "ABCDEF"}


def test_relay_port_and_spool_match_the_relay_image() -> None:
    dockerfile = (bm.ROOT / "containerapps" / "relay" / "Dockerfile").read_text()
    image_env = dict(re.findall(r"\b(RELAY_[A-Z_]+)=(\S+)", dockerfile))
    main = bm.parse(bm.MAIN)
    assert str(main["parameters"]["relayPort"]["default"]) == image_env["RELAY_HTTP_PORT"]
    assert main["variables"]["relaySpoolDir"]["value"] == image_env["RELAY_SPOOL_DIR"]
    assert f"EXPOSE {image_env['RELAY_HTTP_PORT']}" in dockerfile


def test_the_relay_settings_bicep_sets_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from containerapps.relay.settings import load_relay_settings

    main = bm.parse(bm.MAIN)
    values = bm.literal_values("relaySettings", main)
    assert "RELAY_HTTP_PORT" in values
    relay = loaded_from(
        monkeypatch, values, load_relay_settings, "the relay's environment in Bicep does not load"
    )
    assert str(relay.relay_spool_dir) == main["variables"]["relaySpoolDir"]["value"]
    assert relay.relay_in_devhost is False
