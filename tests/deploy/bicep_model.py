"""Read bicep/ with pycep-parser: parsed files, app-setting names and literal values."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser
from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "bicep"
MAIN = BICEP / "main.bicep"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INTERPOLATION = re.compile(r"\$\{[^}]*\}")


def bicep_files() -> list[Path]:
    return sorted(BICEP.rglob("*.bicep"))


@cache
def _parser() -> BicepParser:
    return BicepParser()


@cache
def parse(path: Path) -> dict[str, Any]:
    """The pycep JSON of one .bicep file (raises on a syntax error)."""
    return dict(_parser().parse(file_path=path))


def module_file(name: str) -> Path:
    return BICEP / "modules" / f"{name}.bicep"


def module_params(main: dict[str, Any], module_path: str) -> dict[str, Any]:
    """The `params` main.bicep passes to the module at `module_path`."""
    for module in main.get("modules", {}).values():
        if module["detail"]["path"] == module_path:
            return dict(module["config"]["params"])
    raise AssertionError(f"main.bicep does not use {module_path}")


def _setting_entry(value: Any) -> str | None:
    if (
        isinstance(value, dict)
        and isinstance(value.get("name"), str)
        and ENV_NAME.match(value["name"])
        and ({"value", "secretRef"} & value.keys())
    ):
        return str(value["name"])
    return None


def setting_names(expr: Any, variables: dict[str, Any]) -> set[str]:
    """Names of every `{name, value|secretRef}` entry an expression can produce.

    Follows variable references, concat/union, both branches of conditionals, and loops over a
    variable whose body takes `item.name` (e.g. `[for s in secretSettings: {name: s.name ...}]`).
    """
    names: set[str] = set()
    if isinstance(expr, str):
        if expr in variables:
            names |= setting_names(variables[expr]["value"], variables)
        return names
    if isinstance(expr, list):
        for item in expr:
            entry = _setting_entry(item)
            if entry:
                names.add(entry)
            else:
                names |= setting_names(item, variables)
        return names
    if not isinstance(expr, dict):
        return names
    entry = _setting_entry(expr)
    if entry:
        return {entry}
    if "loop_type" in expr:
        source = expr["loop_type"]["detail"].get("array_name")
        if source in variables:
            for item in variables[source]["value"]:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    names.add(item["name"])
        return names
    for value in expr.values():
        names |= setting_names(value, variables)
    return names


def _variables(parsed: dict[str, Any]) -> dict[str, Any]:
    return dict(parsed.get("variables", {}))


def _resource_settings(parsed: dict[str, Any], key: str) -> Iterator[Any]:
    """Every value stored under `key` (appSettings / env) anywhere in the file's resources."""

    def walk(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == key:
                    yield v
                else:
                    yield from walk(node=v)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    yield from walk(parsed.get("resources", {}))


def _provided(module: str, setting_key: str, main_params: tuple[str, ...]) -> set[str]:
    main = parse(MAIN)
    path = module_file(module)
    parsed = parse(path)
    names: set[str] = set()
    params = module_params(main, f"modules/{module}.bicep")
    for param in main_params:
        names |= setting_names(params.get(param), _variables(main))
    for value in _resource_settings(parsed, setting_key):
        names |= setting_names(value, _variables(parsed))
    return names


def function_app_settings() -> set[str]:
    """Every app setting name the Function App gets (module literals + what main passes)."""
    return _provided("functionapp", "appSettings", ("appSettings",))


def container_app_settings() -> set[str]:
    """Every environment variable name the relay Container App gets."""
    return _provided("containerapps", "env", ("env", "keyVaultSecrets"))


def env_names(settings_class: type[BaseSettings]) -> set[str]:
    """The environment variable names a pydantic-settings class reads (upper case)."""
    prefix = str(settings_class.model_config.get("env_prefix") or "")
    names: set[str] = set()
    for field_name, field in settings_class.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            choice = alias.choices[0]
            names.add((choice if isinstance(choice, str) else str(choice)).upper())
        elif isinstance(alias, AliasPath):
            names.add(str(alias.path[0]).upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def settings_classes(module_name: str) -> list[type[BaseSettings]]:
    """The BaseSettings subclasses defined in a module (not imported into it)."""
    module = importlib.import_module(module_name)
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseSettings)
        and value is not BaseSettings
        and value.__module__ == module_name
    ]


def literal(value: Any) -> Any:
    """A pycep literal as Python (pycep parses `-1` as a `minus` operator)."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "minus":
        return -literal(value["operator"]["operands"]["integer_value"])
    return value


def literal_values(expr: Any, parsed: dict[str, Any]) -> dict[str, str]:
    """`name -> value` for the entries of an app-settings array whose value can be read
    statically: literals, parameters (their defaults) and `string(param)`; `${...}` parts of
    an interpolation become `x`. Values built from runtime outputs are left out."""
    params = parsed.get("parameters", {})
    variables = _variables(parsed)
    values: dict[str, str] = {}

    def resolve(value: Any) -> str | None:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, str):
            if value in params:
                return resolve(params[value].get("default"))
            if value in variables:
                return resolve(variables[value]["value"])
            return INTERPOLATION.sub("x", value)
        if isinstance(value, dict) and "operator" in value and literal(value) is not value:
            return str(literal(value))
        if isinstance(value, dict) and "function" in value:
            function = value["function"]
            if function["type"] == "string":
                inner = resolve(next(iter(function["parameters"].values())))
                return inner
        return None

    def walk(node: Any) -> None:
        if isinstance(node, str) and node in variables:
            walk(variables[node]["value"])
        elif isinstance(node, list):
            for item in node:
                if _setting_entry(item) and "value" in item:
                    resolved = resolve(item["value"])
                    if resolved is not None:
                        values[item["name"]] = resolved
                else:
                    walk(item)
        elif isinstance(node, dict) and "loop_type" not in node:
            for value in node.values():
                walk(value)

    walk(expr)
    return values
