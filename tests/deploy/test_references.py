"""bicep/ against Microsoft's references (issue 14): the data the tests compare with lives in
tests/deploy/reference/, copied by hand from the page or repository named next to each fact,
never from bicep/. Where the Bicep makes a decision (relay replicas, Key Vault references,
purge protection), the expression is evaluated for the deployment at hand, not only read."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import bicep_model as bm

REFERENCE = Path(__file__).parent / "reference"
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
LINE_COMMENT = re.compile(r"//[^\n]*")


@cache
def _roles() -> dict[str, dict[str, str]]:
    """id (lower case) -> {name, source, kind} from azure_roles.yaml."""
    data = yaml.safe_load((REFERENCE / "azure_roles.yaml").read_text())
    table: dict[str, dict[str, str]] = {}
    for kind, entries in data.items():
        for entry in entries:
            table[entry["id"].lower()] = {**entry, "kind": kind}
    return table


@cache
def _platform() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REFERENCE / "azure_platform.yaml").read_text())
    return data


def _code(path: Path) -> str:
    """A .bicep file without its // comments (a GUID or newGuid() in prose is not code)."""
    return LINE_COMMENT.sub("", path.read_text())


def _main_parameters() -> dict[str, str]:
    raw = json.loads((bm.BICEP / "main.parameters.json").read_text())["parameters"]
    return {name: str(entry["value"]) for name, entry in raw.items()}


def _azd_variable(expression: str) -> str:
    """`${NAME=default}` -> NAME (azd's substitution syntax in main.parameters.json)."""
    match = re.fullmatch(r"\$\{([A-Z0-9_]+)(?:=[^}]*)?\}", expression)
    assert match, f"not an azd environment reference: {expression}"
    return match.group(1)


def _seconds(timespan: str) -> int:
    hours, minutes, seconds = (int(part) for part in timespan.split(":"))
    return hours * 3600 + minutes * 60 + seconds


# --- the reference data itself ---------------------------------------------------------------


def test_the_reference_tables_cite_microsoft_for_every_entry() -> None:
    for role_id, entry in _roles().items():
        assert GUID.fullmatch(role_id), role_id
        assert entry["source"].startswith("https://learn.microsoft.com/"), entry
        assert entry["name"], entry
        assert entry["name"].strip() == entry["name"], entry
    flex = _platform()["flex_consumption"]
    for section in ("unsupported_site_properties", "deprecated_app_settings", "regions", "durable"):
        sources = flex[section]["sources"]
        assert any(s.startswith("https://learn.microsoft.com/") for s in sources) or any(
            s.startswith("https://github.com/Azure") for s in sources
        ), section


# --- 1. role definition GUIDs ---------------------------------------------------------------


def test_every_guid_in_bicep_is_a_microsoft_role() -> None:
    """Issue 14 item 1: AcrPull and Monitoring Metrics Publisher had GUIDs no role has."""
    table = _roles()
    seen: set[str] = set()
    for path in bm.bicep_files():
        for guid in GUID.findall(_code(path)):
            assert guid.lower() in table, (
                f"{path.relative_to(bm.ROOT)}: {guid} is not in tests/deploy/reference/"
                "azure_roles.yaml (Microsoft's built-in roles); a GUID in Bicep is a role id"
            )
            seen.add(guid.lower())
    assert len(seen) >= 9, f"found only {len(seen)} role ids in bicep/"


def _claimed_roles() -> dict[str, dict[str, str]]:
    """Every `{ name, id }` role the roles module declares, keyed by its variable path."""
    parsed = bm.parse(bm.module_file("roles"))
    claimed = {
        f"roles.{key}": value for key, value in parsed["variables"]["roles"]["value"].items()
    }
    claimed["cosmosDataContributor"] = parsed["variables"]["cosmosDataContributor"]["value"]
    return claimed


def test_every_role_is_listed_under_the_name_the_code_gives_it() -> None:
    table = _roles()
    for where, role in _claimed_roles().items():
        entry = table.get(role["id"].lower())
        assert entry, f"{where}: {role['id']} is not a Microsoft role (azure_roles.yaml)"
        assert entry["name"] == role["name"], (
            f"{where}: {role['id']} is {entry['name']!r} in {entry['source']}, "
            f"but roles.bicep calls it {role['name']!r}"
        )
    cosmos = _claimed_roles()["cosmosDataContributor"]
    assert table[cosmos["id"]]["kind"] == "cosmos_sql_data_plane"
    rbac = {k: v for k, v in _claimed_roles().items() if k.startswith("roles.")}
    assert all(table[r["id"].lower()]["kind"] == "azure_rbac" for r in rbac.values())


def test_rbac_assignments_use_rbac_roles_and_sql_assignments_the_cosmos_role() -> None:
    parsed = bm.parse(bm.module_file("roles"))
    text = _code(bm.module_file("roles"))
    used = set(re.findall(r"\b(roles\.\w+)\.id\b", text))
    assert used == {k for k in _claimed_roles() if k.startswith("roles.")}, "declared, unused"
    assert "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)" in text
    assert len(re.findall(r"roleDefinitions', roles\.\w+\.id\)", text)) >= 5
    sql = [r for r in parsed["resources"].values() if r["type"].endswith("/sqlRoleAssignments")]
    assert sql
    for assignment in sql:
        assert "sqlRoleDefinitions/${cosmosDataContributor.id}" in json.dumps(assignment)


def test_the_app_identity_has_the_roles_microsofts_flex_sample_gives_it() -> None:
    """Host storage, deployment package, Durable (queues, tables) and Entra ID telemetry, as in
    Microsoft's Flex Consumption azd quickstart, at the same scopes."""
    expected = _platform()["flex_consumption"]["identity_roles"]
    parsed = bm.parse(bm.module_file("roles"))
    evaluator = bm.Evaluator(parsed)
    by_id = {role["id"]: role["name"] for role in evaluator.variable("roles").values()}
    on_storage = {by_id[role_id] for role_id in evaluator.variable("storageRoles")}
    assert set(expected["storage_account"]) <= on_storage
    storage = parsed["resources"]["appStorage"]["config"]["config"]
    assert storage["scope"] == "storage"
    assert storage["properties"]["principalId"] == "identityPrincipalId"
    telemetry = parsed["resources"]["appTelemetry"]["config"]
    assert telemetry["scope"] == "appInsights"
    role_id = evaluator.value(
        telemetry["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
    )
    assert {by_id[role_id]} == set(expected["application_insights"])
    assert telemetry["properties"]["principalId"] == "identityPrincipalId"


# --- 2. site properties Flex Consumption rejects ---------------------------------------------


def test_the_function_app_sets_no_site_property_flex_consumption_rejects() -> None:
    """Issue 14 item 2: siteConfig.ftpsState on an FC1 site (ARM 51021)."""
    rejected = {
        name.lower(): reason
        for name, reason in _platform()["flex_consumption"]["unsupported_site_properties"][
            "properties"
        ].items()
    }
    for path in bm.bicep_files():
        for res in bm.parse(path).get("resources", {}).values():
            if res["type"] != "Microsoft.Web/sites" or res["existing"]:
                continue
            properties = res["config"].get("config", res["config"])["properties"]
            site_config = properties.get("siteConfig", {})
            for name in [*properties, *site_config]:
                assert name.lower() not in rejected, (
                    f"{path.name}: Microsoft.Web/sites sets {name}, which Flex Consumption "
                    f"rejects: {rejected[name.lower()]}"
                )


def test_no_app_setting_flex_consumption_deprecates() -> None:
    deprecated = set(_platform()["flex_consumption"]["deprecated_app_settings"]["settings"])
    given = bm.function_app_settings()
    parsed = bm.parse(bm.module_file("functionapp"))
    given |= {entry["name"] for entry in parsed["variables"]["hostSettings"]["value"]}
    assert not given & deprecated, sorted(given & deprecated)


# --- 3. the relay on the first `azd up` ------------------------------------------------------


def _relay() -> dict[str, Any]:
    return bm.resource(bm.parse(bm.module_file("containerapps")), "Microsoft.App/containerApps")


def test_the_relay_has_no_ingress_and_probes_its_own_port_whatever_the_image() -> None:
    """Issue 14 item 3: ingress + no probes in the placeholder revision meant default probes
    on port 80 after `azd deploy` swapped in the relay, which listens on 8080."""
    parsed = bm.parse(bm.module_file("containerapps"))
    relay = _relay()
    assert "ingress" not in relay["properties"]["configuration"], (
        "nothing calls the relay; with ingress Container Apps adds probes on the target port"
    )
    (container,) = relay["properties"]["template"]["containers"]
    assert container["probes"] == "probes", "the probes must not depend on the image"
    probes = parsed["variables"]["probes"]["value"]
    assert {p["type"] for p in probes} == {"Liveness", "Readiness", "Startup"}
    assert all(p["httpGet"]["port"] == "relayPort" for p in probes)
    relay_env = bm.literal_values("relaySettings", bm.parse(bm.MAIN))
    port = bm.Evaluator(bm.parse(bm.MAIN)).param("relayPort")
    assert relay_env["RELAY_HTTP_PORT"] == str(port)


def test_the_relay_image_follows_azds_existing_image_pattern() -> None:
    """Provision keeps the image azd deployed: SERVICE_RELAY_RESOURCE_EXISTS -> the running
    app's image, else the placeholder (azd's own scaffold, host-containerapp.bicept)."""
    pattern = _platform()["container_apps"]["azd_existing_image_pattern"]
    main = bm.parse(bm.MAIN)
    params = _main_parameters()
    assert _azd_variable(params["relayExists"]) == pattern["exists_parameter"]
    assert "relayImage" not in params, "the image comes from the running app, not the env"
    fetch = next(
        m
        for m in main["modules"].values()
        if m["detail"]["path"] == "modules/fetch-container-image.bicep"
    )
    assert fetch["config"]["params"] == {"exists": "relayExists", "name": "relayAppName"}
    image = bm.module_params(main, "modules/containerapps.bicep")["relayImage"]
    branches = image["operator"]["operands"]
    assert branches["true_value"] == "relayPlaceholderImage"
    assert "containers" in json.dumps(branches["condition"])
    placeholder = _platform()["container_apps"]["placeholder_image"]
    assert bm.Evaluator(main).variable("relayPlaceholderImage") == placeholder["image"]
    probes = bm.parse(bm.module_file("containerapps"))["variables"]["probes"]["value"]
    restarting = [p for p in probes if p["type"] in ("Liveness", "Startup")]
    assert bm.Evaluator(main).param("relayPort") == placeholder["port"]
    for probe in restarting:  # a failing liveness/startup probe restarts the container
        assert probe["httpGet"]["path"] in placeholder["paths"], probe
    fetched = bm.parse(bm.module_file("fetch-container-image"))
    (existing,) = fetched["resources"].values()
    assert existing["existing"]
    assert existing["config"]["condition"] == "exists"
    assert existing["type"] == "Microsoft.App/containerApps"


# --- 4. keyless deployments ------------------------------------------------------------------


def _relay_decision(**main_params: Any) -> tuple[int, list[dict[str, Any]], list[Any]]:
    """(minReplicas, secret env, Key Vault secrets) the relay gets for main.bicep parameters:
    main.bicep's module parameters evaluated where they do not need Azure, then the relay's
    own expressions."""
    main = bm.Evaluator(bm.parse(bm.MAIN), main_params, opaque=True)
    relay_params: dict[str, Any] = {"identityId": "identity"}
    for name, expr in bm.module_params(bm.parse(bm.MAIN), "modules/containerapps.bicep").items():
        try:
            relay_params[name] = main.value(expr)
        except bm.Unresolved:
            continue
    parsed = bm.parse(bm.module_file("containerapps"))
    declared = parsed.get("parameters", {})
    relay = bm.Evaluator(
        parsed, {k: v for k, v in relay_params.items() if k in declared}, opaque=True
    )
    app = bm.resource(parsed, "Microsoft.App/containerApps")
    replicas = relay.value(app["properties"]["template"]["scale"]["minReplicas"])
    return replicas, relay.variable("secretEnv"), relay.variable("secrets")


def test_a_keyless_deploy_scales_the_relay_to_zero_instead_of_crash_looping() -> None:
    """Issue 14 item 4: FINNHUB_API_KEYS empty -> the relay exits 2; one replica always on
    made that a restart loop. Without ingress, minReplicas 0 means no replica starts."""
    replicas, secret_env, secrets = _relay_decision()
    assert replicas == 0
    assert {"name": "FINNHUB_API_KEYS", "value": ""} in secret_env
    assert secrets == []
    assert "ingress" not in _relay()["properties"]["configuration"]
    assert _relay()["properties"]["template"]["scale"]["minReplicas"] == "replicas"
    replicas, secret_env, secrets = _relay_decision(finnhubApiKeys="k1,k2")
    assert replicas == 1
    assert {"name": "FINNHUB_API_KEYS", "secretRef": "finnhub-api-keys"} in secret_env
    assert [s["name"] for s in secrets] == ["finnhub-api-keys"]
    status = bm.parse(bm.MAIN)["outputs"]["RELAY_STATUS"]
    assert "FINNHUB_API_KEYS" in json.dumps(status), "the output says why the relay is idle"


def _function_app_secret_values(**main_params: Any) -> dict[str, str]:
    main = bm.Evaluator(bm.parse(bm.MAIN), main_params, opaque=True)
    return {s["name"]: s["value"] for s in main.variable("functionSecretSettings")}


def test_secrets_stored_once_stay_referenced_when_a_later_provision_has_none() -> None:
    """The second provision runs without the key variables: the Key Vault references (and the
    relay) stay, because the first provision's *_IN_VAULT outputs come back as parameters."""
    first = _function_app_secret_values(finnhubApiKeys="k1", alphaVantageApiKeys="a1")
    assert first["FINNHUB_API_KEYS"].startswith("@Microsoft.KeyVault(")
    assert first["ALPHAVANTAGE_API_KEYS"].startswith("@Microsoft.KeyVault(")
    assert first["COINGECKO_API_KEY"] == ""

    # what azd writes to .env after the first provision, read back by main.parameters.json
    main = bm.parse(bm.MAIN)
    first_outputs = bm.Evaluator(main, {"finnhubApiKeys": "k1", "alphaVantageApiKeys": "a1"})
    env = {
        name: first_outputs.value(output["value"])
        for name, output in main["outputs"].items()
        if name.endswith("_IN_VAULT")
    }
    assert env == {
        "ALPHAVANTAGE_KEYS_IN_VAULT": True,
        "COINGECKO_KEY_IN_VAULT": False,
        "FINNHUB_KEYS_IN_VAULT": True,
    }
    params = _main_parameters()
    second_params = {
        name: env[_azd_variable(value)]
        for name, value in params.items()
        if _azd_variable(value) in env
    }
    assert len(second_params) == 3, params
    second = _function_app_secret_values(**second_params)  # no key variables this time
    assert second == first
    assert _relay_decision(**second_params)[0] == 1

    # the secrets themselves are written only when a value is given: never blanked
    keyvault = bm.parse(bm.module_file("keyvault"))
    for res in keyvault["resources"].values():
        if res["type"] == "Microsoft.KeyVault/vaults/secrets":
            value = res["config"]["config"]["properties"]["value"]
            condition = bm.Evaluator(keyvault, {value: ""}).value(res["config"]["condition"])
            assert condition is False, f"{value}: an empty value would overwrite the secret"


def test_azd_down_forgets_the_recorded_state() -> None:
    """`azd down --purge` deletes the secrets and the relay app; the postdown hook resets what
    the last provision recorded, so the next `azd up` starts keyless and from the placeholder."""
    config = yaml.safe_load((bm.ROOT / "azure.yaml").read_text())
    recorded = {
        _azd_variable(value)
        for name, value in _main_parameters().items()
        if name.endswith("InVault") or name == "relayExists"
    }
    assert len(recorded) == 4
    for shell in ("posix", "windows"):
        run = config["hooks"]["postdown"][shell]["run"]
        reset = set(re.findall(r"azd env set (\w+) false", run))
        assert reset == recorded, shell


def test_the_azd_behaviour_the_design_relies_on() -> None:
    """What azd's source does with this project: hooks it knows, bool strings it parses,
    and an image-only relay deploy (a bicep/<service>.bicep module would replace it)."""
    azd = _platform()["azd"]
    config = yaml.safe_load((bm.ROOT / "azure.yaml").read_text())
    assert set(config["hooks"]) <= set(azd["known_hooks"])
    for name, value in _main_parameters().items():
        declared = bm.parse(bm.MAIN)["parameters"][name]
        if declared["type"] == "bool":
            default = re.fullmatch(r"\$\{[A-Z0-9_]+=(\w+)\}", value)
            assert default, f"{name}: give the bool a default in main.parameters.json"
            assert default.group(1) in azd["bool_strings"], name
    infra = config["infra"]["path"]
    for service, spec in config["services"].items():
        module = azd["containerapp_deploy_module_file"].format(
            infra=infra, service=spec.get("module", service)
        )
        assert not (bm.ROOT / module).exists(), (
            f"{module} would make azd deploy {service} through that module, not an image swap"
        )


# --- 5. the risky items ----------------------------------------------------------------------


def test_cosmos_sql_role_assignments_are_created_one_after_another() -> None:
    """Issue 14 item 5: two sqlRoleAssignments on one account in parallel fail with 412."""
    parsed = bm.parse(bm.module_file("roles"))
    assignments = {
        name: res["config"].get("config", res["config"])
        for name, res in parsed["resources"].items()
        if res["type"] == "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"
    }
    assert len(assignments) >= 2
    chained = [name for name, config in assignments.items() if config.get("dependsOn")]
    assert len(chained) == len(assignments) - 1, "all but the first wait for another"
    for name in chained:
        assert set(assignments[name]["dependsOn"]) & (set(assignments) - {name}), name


def _function_app(**main_params: Any) -> bm.Evaluator:
    """The functionapp module's expressions for main.bicep parameters (Azure-only values, such
    as the identity's client id and the scheduler endpoint, replaced by stand-ins)."""
    main = bm.Evaluator(bm.parse(bm.MAIN), main_params)
    passed = bm.module_params(bm.parse(bm.MAIN), "modules/functionapp.bicep")
    return bm.Evaluator(
        bm.parse(bm.module_file("functionapp")),
        {
            "durableAlwaysReadyInstances": main.value(passed["durableAlwaysReadyInstances"]),
            "durableMaxQueuePollingInterval": main.value(passed["durableMaxQueuePollingInterval"]),
            "durableBackend": main.value(passed["durableBackend"]),
            "durableTaskSchedulerEndpoint": "https://dts-x.eastus.durabletask.io",
            "identityClientId": "client-id",
            "storageAccountName": "account",
            "applicationInsightsConnectionString": "x",
            "cosmosEndpoint": "https://cosmos-x.documents.azure.com:443/",
        },
        opaque=True,
    )


def test_durable_on_flex_gets_an_always_ready_instance_and_fast_queue_polling() -> None:
    durable = _platform()["flex_consumption"]["durable"]
    function_app = _function_app(durableBackend="AzureStorage")
    assert function_app.variable("alwaysReady") == [
        {"name": durable["always_ready_group"], "instanceCount": durable["always_ready_instances"]}
    ]
    site = bm.resource(bm.parse(bm.module_file("functionapp")), "Microsoft.Web/sites")
    scale = site["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["alwaysReady"] == "alwaysReady"
    host = {s["name"]: s["value"] for s in function_app.variable("durableSettings")}
    interval = host[durable["polling_app_setting"]]
    assert 0 < _seconds(interval) <= durable["max_queue_polling_interval_seconds"], interval
    assert _seconds(interval) == durable["extension_flex_default_seconds"]
    host_json = json.loads((bm.ROOT / "host.json").read_text())
    provider = host_json["extensions"]["durableTask"]["storageProvider"]
    assert "maxQueuePollingInterval" not in provider, "one place for the value: the app setting"


# --- the Durable Task Scheduler (issue 19 item 5) -------------------------------------------


def _dts() -> dict[str, Any]:
    data: dict[str, Any] = _platform()["durable_task_scheduler"]
    return data


def _bundle_minimum(version_range: str) -> tuple[int, ...]:
    match = re.fullmatch(r"\[(\d+(?:\.\d+)*)(?:\.\*)?, *(\d+(?:\.\d+)*)\)", version_range)
    assert match, f"not a bundle version range: {version_range}"
    return tuple(int(part) for part in match.group(1).split("."))


def test_host_json_selects_the_scheduler_the_way_microsoft_documents_it() -> None:
    reference = _dts()["host_json"]
    host = json.loads((bm.ROOT / "host.json").read_text())
    assert host["extensions"]["durableTask"]["storageProvider"] == reference["storage_provider"]
    bundle = host["extensionBundle"]
    assert bundle["id"] == reference["extension_bundle_id"]
    minimum = tuple(int(p) for p in reference["extension_bundle_minimum"].split("."))
    assert _bundle_minimum(bundle["version"]) >= minimum, (
        f"the azureManaged provider needs bundle {reference['extension_bundle_minimum']}+"
    )
    hub = host["extensions"]["durableTask"]["hubName"]
    from devhost.durable.plugin import hub_name

    assert hub_name(bm.ROOT / "host.json") == hub, "the local host reads the same hub"
    main = bm.parse(bm.MAIN)
    assert main["variables"]["taskHubName"]["value"] == hub
    params = bm.module_params(main, "modules/durabletask.bicep")
    assert params["taskHubName"] == "taskHubName", "the task hub resource is host.json's hub"


def test_bundle_range_parser_reads_the_forms_host_json_uses() -> None:
    assert _bundle_minimum("[4.32.0, 5.0.0)") == (4, 32, 0)
    assert _bundle_minimum("[4.*, 5.0.0)") == (4,)
    assert _bundle_minimum("[4.*, 5.0.0)") < (4, 32, 0), "a 4.* floor allows older bundles"


def _scheduler(**params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    parsed = bm.parse(bm.module_file("durabletask"))
    evaluator = bm.Evaluator(
        parsed, {"location": "eastus", "tags": {}, "name": "dts-x", "taskHubName": "Hub", **params}
    )
    scheduler = bm.resource(parsed, "Microsoft.DurableTask/schedulers")
    hub = bm.resource(parsed, "Microsoft.DurableTask/schedulers/taskHubs")
    return evaluator.value(scheduler["properties"]), evaluator.value(hub)


def test_the_default_deployment_uses_a_consumption_scheduler_and_keeps_storage_as_an_option() -> (
    None
):
    main_parsed = bm.parse(bm.MAIN)
    main = bm.Evaluator(main_parsed)
    assert main.param("durableBackend") == "DurableTaskScheduler"
    assert main.variable("useDurableTaskScheduler") is True
    assert bm.decorator(main_parsed["parameters"]["durableBackend"], "allowed") == [
        "DurableTaskScheduler",
        "AzureStorage",
    ]
    module = next(
        m
        for m in main_parsed["modules"].values()
        if m["detail"]["path"].endswith("durabletask.bicep")
    )
    assert module["config"]["condition"] == "useDurableTaskScheduler"
    storage = bm.Evaluator(main_parsed, {"durableBackend": "AzureStorage"})
    assert storage.variable("useDurableTaskScheduler") is False
    billing = _dts()["billing"]
    assert main.param("durableTaskSchedulerSku") == "Consumption"
    allowed = bm.decorator(main_parsed["parameters"]["durableTaskSchedulerSku"], "allowed")
    assert set(allowed) == set(billing["skus"])
    properties, hub = _scheduler(skuName=main.param("durableTaskSchedulerSku"))
    assert properties["sku"] == {"name": "Consumption"}, "capacity is a Dedicated setting"
    assert properties["ipAllowlist"], "an empty allow list denies every caller"
    assert hub["name"] == "Hub"
    assert hub["parent"] == "scheduler"
    dedicated, _ = _scheduler(skuName="Dedicated", capacity=3)
    assert dedicated["sku"] == {"name": "Dedicated", "capacity": 3}
    capacity = main_parsed["parameters"]["durableTaskSchedulerCapacity"]
    assert bm.decorator(capacity, "max_value") == billing["dedicated_max_capacity_units"]
    written = main_parsed["variables"]["durableTaskSchedulerName"]["value"]
    assert written == "${abbrs.durableTaskScheduler}${resourceToken}"
    name = main.variable("abbrs")["durableTaskScheduler"] + "x" * 13  # uniqueString(): 13 chars
    pattern = _arm_types()["types"]["Microsoft.DurableTask/schedulers@2025-11-01"]
    assert pattern, "the scheduler type is in arm_types.json"
    for value in (
        name,
        json.loads((bm.ROOT / "host.json").read_text())["extensions"]["durableTask"]["hubName"],
    ):
        assert re.fullmatch(r"[a-zA-Z0-9-]{3,64}", value), value  # both types' name pattern


def test_the_app_reaches_the_scheduler_with_its_identity_in_microsofts_format() -> None:
    reference = _dts()["connection_string"]
    given = {
        "${durableTaskSchedulerEndpoint}": "https://dts-x.eastus.durabletask.io",
        "${identityClientId}": "client-id",
    }
    settings = {}
    for entry in _function_app().variable("durableSettings"):
        value = entry["value"]
        for placeholder, stand_in in given.items():
            value = value.replace(placeholder, stand_in)
        settings[entry["name"]] = value
    name = _dts()["host_json"]["storage_provider"]["connectionStringName"]
    assert settings == {
        name: reference["format"].format(
            endpoint="https://dts-x.eastus.durabletask.io", client_id="client-id"
        )
    }, "the Azure Storage overrides must be absent, or they would replace host.json's provider"
    passed = bm.module_params(bm.parse(bm.MAIN), "modules/functionapp.bicep")
    endpoint = passed["durableTaskSchedulerEndpoint"]["operator"]["operands"]
    assert endpoint["condition"] == "useDurableTaskScheduler"
    assert "durableTask" in json.dumps(endpoint["true_value"])
    assert "endpoint" in json.dumps(endpoint["true_value"])
    site = bm.resource(bm.parse(bm.module_file("functionapp")), "Microsoft.Web/sites")
    app_settings = site["properties"]["siteConfig"]["appSettings"]
    assert "durableSettings" in json.dumps(app_settings)


def test_the_azure_storage_option_overrides_host_json_with_the_storage_connection() -> None:
    settings = {
        s["name"]: s["value"]
        for s in _function_app(durableBackend="AzureStorage").variable("durableSettings")
    }
    prefix = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
    assert settings[f"{prefix}type"] == "AzureStorage"
    assert settings[f"{prefix}connectionStringName"] == "AzureWebJobsStorage"
    assert not any(name.startswith("DURABLE_TASK_SCHEDULER") for name in settings)
    host = {s["name"]: s["value"] for s in _function_app().variable("hostSettings")}
    assert host["AzureWebJobsStorage__credential"] == "managedidentity"
    local = json.loads((bm.ROOT / "local.settings.example.json").read_text())["Values"]
    assert local[f"{prefix}type"] == "AzureStorage", "func start + Azurite keeps its provider"
    assert local[f"{prefix}connectionStringName"] == "AzureWebJobsStorage"


def test_the_app_identity_gets_durable_task_data_contributor_on_the_task_hub() -> None:
    reference = _dts()["connection_string"]
    parsed = bm.parse(bm.module_file("roles"))
    evaluator = bm.Evaluator(parsed)
    by_id = {role["id"]: role["name"] for role in evaluator.variable("roles").values()}
    resources = parsed["resources"]
    hub = resources["durableTaskHub"]
    assert hub["existing"]
    assert hub["type"] in reference["role_scopes"]
    for name, principal in (("appDurableTask", "identityPrincipalId"), ("userDurableTask", None)):
        wrapper = resources[name]["config"]
        assert "durableTaskSchedulerEnabled" in json.dumps(wrapper["condition"])
        config = wrapper["config"]
        assert config["scope"] == "durableTaskHub"
        role_id = evaluator.value(
            config["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        )
        assert by_id[role_id] == reference["role"]
        if principal:
            assert config["properties"]["principalId"] == principal
    off = bm.Evaluator(parsed, {"durableTaskSchedulerEnabled": False, "userPrincipalId": "u"})
    assert off.value(resources["appDurableTask"]["config"]["condition"]) is False
    assert off.value(resources["userDurableTask"]["config"]["condition"]) is False
    on = bm.Evaluator(parsed, {"durableTaskSchedulerEnabled": True, "userPrincipalId": "u"})
    assert on.value(resources["userDurableTask"]["config"]["condition"]) is True
    main = bm.parse(bm.MAIN)
    roles = bm.module_params(main, "modules/roles.bicep")
    assert roles["durableTaskSchedulerEnabled"] == "useDurableTaskScheduler"
    assert roles["durableTaskHubName"] == "taskHubName"
    assert roles["durableTaskSchedulerName"] == "durableTaskSchedulerName"
    module = next(
        m for m in main["modules"].values() if m["detail"]["path"].endswith("roles.bicep")
    )
    assert "durableTask" in module["config"]["dependsOn"], "the hub exists before its role"


def test_every_deployed_environment_gets_a_writable_numba_cache() -> None:
    """Issue 19 item 1: the package is mounted read-only on Flex Consumption, so numba's
    default cache (next to the source) cannot be written; NUMBA_CACHE_DIR points it at /tmp."""
    main = bm.Evaluator(bm.parse(bm.MAIN), opaque=True)
    function_app = {s["name"]: s["value"] for s in main.variable("appSettings")}
    function_app |= {s["name"]: s["value"] for s in main.variable("runtimeSettings")}
    assert "NUMBA_CACHE_DIR" in bm.function_app_settings()
    assert "NUMBA_CACHE_DIR" in bm.container_app_settings()
    cache = function_app["NUMBA_CACHE_DIR"]
    assert cache.startswith("/tmp/"), "the instance's writable temporary storage"
    assert cache != main.variable("localDataDir"), "its own folder"


def test_key_vault_allows_azd_down_purge_then_azd_up() -> None:
    keyvault = bm.parse(bm.module_file("keyvault"))
    evaluator = bm.Evaluator(keyvault, {"name": "kv-x", "location": "l", "tags": {}})
    vault = bm.resource(keyvault, "Microsoft.KeyVault/vaults")["properties"]
    assert evaluator.value(vault["enablePurgeProtection"]) is None, (
        "purge protection keeps the deterministic name taken after `azd down --purge`"
    )
    assert bm.Evaluator(keyvault, {"purgeProtection": True}).value(
        vault["enablePurgeProtection"]
    ), "opt-in must still switch it on"
    retention = _platform()["key_vault"]["soft_delete_retention_days"]
    days = evaluator.value(vault["softDeleteRetentionInDays"])
    assert retention["min"] <= days <= retention["max"]
    main = bm.parse(bm.MAIN)
    assert bm.module_params(main, "modules/keyvault.bicep")["name"] == "keyVaultName"
    assert main["variables"]["keyVaultName"]["value"] == "${abbrs.keyVault}${resourceToken}"
    assert bm.Evaluator(main).param("keyVaultPurgeProtection") is False


def test_scale_parameters_stay_within_what_flex_consumption_accepts() -> None:
    limits = _platform()["flex_consumption"]["scale_limits"]
    for path in (bm.MAIN, bm.module_file("functionapp")):
        params = bm.parse(path)["parameters"]
        count = params["maximumInstanceCount"]
        low, high = bm.decorator(count, "min_value"), bm.decorator(count, "max_value")
        assert (low, high) == (
            limits["maximum_instance_count"]["min"],
            limits["maximum_instance_count"]["max"],
        ), path.name
        assert low <= count["default"] <= high
        memory = params["instanceMemoryMB"]
        assert bm.decorator(memory, "allowed") == limits["instance_memory_mb"], path.name
        assert memory["default"] in limits["instance_memory_mb"]


def test_location_is_restricted_to_regions_with_flex_consumption() -> None:
    regions = _platform()["flex_consumption"]["regions"]
    offered = set(regions["list"]) - set(regions["early_access"])
    location = bm.parse(bm.MAIN)["parameters"]["location"]
    allowed = bm.decorator(location, "allowed")
    assert allowed, "location has no @allowed list"
    assert set(allowed) <= offered, sorted(set(allowed) - offered)
    assert set(allowed) == offered
    assert bm.decorator(location, "metadata") == {"azd": {"type": "location"}}
    assert _main_parameters()["location"] == "${AZURE_LOCATION}"


@pytest.mark.parametrize("path", bm.bicep_files(), ids=lambda p: p.name)
def test_nothing_changes_on_every_provision(path: Path) -> None:
    """A newGuid()/utcNow() value (LOCAL_SIGNING_KEY was one) restarts both apps each time."""
    code = _code(path)
    for function in ("newGuid(", "utcNow("):
        assert function not in code, f"{path.name} uses {function})"


def test_every_app_setting_is_a_function_of_the_parameters_alone() -> None:
    """Every value in appSettings evaluates from parameters and names (no function such as
    newGuid() that the evaluator would refuse), so two provisions with the same parameters
    write the same settings and restart nothing."""
    settings = bm.Evaluator(bm.parse(bm.MAIN), opaque=True).variable("appSettings")
    assert len(settings) > 50
    signing = next(s for s in settings if s["name"] == "LOCAL_SIGNING_KEY")
    assert signing["value"] == "", "unused in Azure (BLOB_BACKEND=azure)"


# --- every resource property against the ARM type of its apiVersion --------------------------

BICEP_ONLY_KEYS = {"parent", "scope", "dependsOn"}


@cache
def _arm_types() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REFERENCE / "arm_types.json").read_text())
    return data


class _TypeCheck:
    """Walks a resource body the way the Bicep compiler's type check does (BCP037 unknown
    property, BCP073 read-only property, BCP036 value outside a closed set), following the
    file's variables, loops, conditionals and object-valued function arguments."""

    def __init__(self, parsed: dict[str, Any], defs: dict[str, Any], where: str) -> None:
        self.variables = parsed.get("variables", {})
        self.defs = defs
        self.where = where
        self.errors: list[str] = []
        self.checked = 0

    def expand(self, expr: Any, depth: int = 0) -> list[Any]:
        """The literal shapes an expression can take (variables inlined, branches unioned)."""
        if depth > 20:
            return []
        if isinstance(expr, str) and expr in self.variables:
            return self.expand(self.variables[expr]["value"], depth + 1)
        if isinstance(expr, dict) and "loop_type" in expr:
            return self.expand(expr["config"], depth + 1)
        if isinstance(expr, dict) and isinstance(expr.get("operator"), dict):
            op = expr["operator"]
            if op["type"] == "conditional":
                branches = (op["operands"]["true_value"], op["operands"]["false_value"])
                return [shape for b in branches for shape in self.expand(b, depth + 1)]
            return []
        if isinstance(expr, dict) and isinstance(expr.get("function"), dict):
            fn = expr["function"]
            if fn["type"] in ("union", "concat"):
                return [
                    shape
                    for arg in (fn.get("parameters") or {}).values()
                    for shape in self.expand(arg, depth + 1)
                ]
            return []
        return [expr]

    def check(self, expr: Any, ref: str | None, path: str, *, top: bool = False) -> None:
        if ref is None:
            return
        schema = self.defs[ref]
        for shape in self.expand(expr):
            if "anyOf" in schema:
                for alternative in schema["anyOf"]:
                    self.check(shape, alternative, path)
            elif "object" in schema and isinstance(shape, dict):
                self._object(shape, schema, path, top=top)
            elif "array" in schema and isinstance(shape, list):
                for i, item in enumerate(shape):
                    self.check(item, schema["array"], f"{path}[{i}]")
            elif "array" in schema and isinstance(shape, dict) and "loop_type" in shape:
                self.check(shape["config"], schema["array"], f"{path}[]")
            elif "enum" in schema and isinstance(shape, str) and not self._is_name(shape):
                self.checked += 1
                if shape not in schema["enum"]:
                    self.errors.append(f"{path} = {shape!r}: not one of {schema['enum']}")

    def _is_name(self, value: str) -> bool:
        """A parameter, variable or interpolation, not a literal string (pycep keeps both as
        strings; a literal of a closed set never looks like an identifier of this file)."""
        return (
            value in self.variables
            or bm.INTERPOLATION.search(value) is not None
            or (re.fullmatch(r"[a-z][A-Za-z0-9]*", value) is not None and value.lower() != value)
        )

    def _object(
        self, shape: dict[str, Any], schema: dict[str, Any], path: str, *, top: bool
    ) -> None:
        if "operator" in shape or "function" in shape:
            return
        props = schema["object"]
        for key, value in shape.items():
            if top and key in BICEP_ONLY_KEYS:
                continue
            self.checked += 1
            if key not in props:
                if schema["open"]:
                    continue
                near = [p for p in props if p.lower() == key.lower()]
                hint = f" (the type spells it {near[0]})" if near else ""
                self.errors.append(f"{path}.{key}: not a property of this type{hint}")
                continue
            if props[key]["readOnly"]:
                self.errors.append(f"{path}.{key}: read-only")
                continue
            self.check(value, props[key]["type"], f"{path}.{key}")


def _declared_resources() -> list[tuple[Path, str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path in bm.bicep_files():
        parsed = bm.parse(path)
        for name, res in parsed.get("resources", {}).items():
            found.append((path, name, res, parsed))
    return found


def test_every_resource_type_and_api_version_is_in_the_extracted_arm_types() -> None:
    known = _arm_types()["types"]
    for path, name, res, _ in _declared_resources():
        key = f"{res['type']}@{res['api_version']}"
        assert key in known, (
            f"{path.name}:{name} uses {key}, which tests/deploy/reference/arm_types.json lacks: "
            "run tests/deploy/reference/extract_arm_types.py (an apiVersion that does not "
            "exist in Azure/bicep-types-az fails there)"
        )


def test_every_resource_property_exists_in_its_api_version_and_is_writable() -> None:
    """Property names (and closed-set values) of every declared resource against the ARM type
    definitions of its apiVersion (Azure/bicep-types-az, extracted to arm_types.json)."""
    known = _arm_types()["types"]
    errors: list[str] = []
    checked = 0
    for path, name, res, parsed in _declared_resources():
        if res["existing"]:
            continue
        arm = known[f"{res['type']}@{res['api_version']}"]
        body = res["config"]
        if "loop_type" in body or ("condition" in body and "config" in body):
            body = body["config"]
        # a type with fixed instance names has one body per name: the best fit counts
        checks = []
        for candidate in arm["bodies"]:
            check = _TypeCheck(parsed, arm["defs"], f"{path.name}:{name}")
            check.check(body, candidate, f"{path.name}:{name}", top=True)
            checks.append(check)
        best = min(checks, key=lambda c: len(c.errors))
        errors += best.errors
        checked += best.checked
    assert not errors, "\n".join(errors)
    assert checked > 150, f"only {checked} properties were checked"


def test_the_type_check_catches_what_the_issue_describes() -> None:
    """The checker above finds a property that is not in the type, a read-only one and a
    value outside a closed set (so a green run means something)."""
    arm = _arm_types()["types"]["Microsoft.Web/sites@2024-04-01"]
    (body_ref,) = arm["bodies"]
    check = _TypeCheck({}, arm["defs"], "probe")
    body = {
        "kind": "functionapp,linux",
        "properties": {
            "siteConfig": {"ftpsStat": "Disabled"},
            "clientCertMode": "Sometimes",
            "defaultHostName": "x.azurewebsites.net",
            "functionAppConfig": {"scaleAndConcurrency": {"alwaysReady": [{"nme": "durable"}]}},
        },
    }
    check.check(body, body_ref, "probe", top=True)
    text = "\n".join(check.errors)
    assert "siteConfig.ftpsStat: not a property" in text
    assert "clientCertMode = 'Sometimes'" in text
    assert "defaultHostName: read-only" in text
    assert "alwaysReady[0].nme: not a property" in text
