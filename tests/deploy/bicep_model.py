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
            config = module["config"]
            if "condition" in config and "config" in config:  # `module x '...' = if (c) {`
                config = config["config"]
            return dict(config["params"])
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


class Unresolved(Exception):
    """An expression needs something only Azure knows (a resource property, an output)."""


_BINARY = {
    "or": lambda a, b: bool(a) or bool(b),
    "and": lambda a, b: bool(a) and bool(b),
    "equals": lambda a, b: a == b,
    "not_equals": lambda a, b: a != b,
    "greater_than": lambda a, b: a > b,
    "greater_than_or_equals": lambda a, b: a >= b,
    "less_than": lambda a, b: a < b,
    "less_than_or_equals": lambda a, b: a <= b,
}


class Evaluator:
    """Evaluates a pycep expression of one file for given parameter values.

    Covers what deployment decisions in bicep/ are made of: literals, parameters (given or
    their defaults), variables, `!`, `||`, `&&`, comparisons, `?:`, property and index access,
    `[for ...]` over known arrays, and empty/length/concat/union/string/filter. Anything that
    needs Azure (a resource or module output, subscription()) raises `Unresolved`.

    pycep 0.5 mis-associates unparenthesised mixes such as `!empty(a) || b` (as `!(empty(a) ||
    b)`); bicep/ parenthesises such expressions, and the tests evaluate only those.
    """

    def __init__(
        self, parsed: dict[str, Any], params: dict[str, Any] | None = None, *, opaque: bool = False
    ) -> None:
        """`opaque`: keep interpolated strings (`'@Microsoft.KeyVault(VaultName=${x};...)'`)
        as written instead of raising `Unresolved`."""
        self.parsed = parsed
        self.opaque = opaque
        self.params = dict(params or {})
        self.declared = dict(parsed.get("parameters", {}))
        self.variables = _variables(parsed)
        unknown = set(self.params) - set(self.declared)
        if unknown:
            raise AssertionError(f"not parameters of the file: {sorted(unknown)}")

    def param(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        default = self.declared[name].get("default")
        if default is None:
            raise Unresolved(f"parameter {name} has no value and no default")
        return self.value(default)

    def variable(self, name: str) -> Any:
        return self.value(self.variables[name]["value"])

    def value(self, expr: Any, scope: dict[str, Any] | None = None) -> Any:
        scope = scope or {}
        if isinstance(expr, bool | int | float) or expr is None:
            return expr
        if isinstance(expr, str):
            if expr in scope:
                return scope[expr]
            if expr in self.declared:
                return self.param(expr)
            if expr in self.variables:
                return self.variable(expr)
            if INTERPOLATION.search(expr) and not self.opaque:
                raise Unresolved(f"interpolated string {expr!r}")
            return expr
        if isinstance(expr, list):
            return [self.value(item, scope) for item in expr]
        if not isinstance(expr, dict):
            raise Unresolved(f"unknown node {expr!r}")
        if "loop_type" in expr:
            detail = expr["loop_type"]["detail"]
            items = self.value(detail["array_name"], scope)
            return [
                self.value(expr["config"], {**scope, detail["item_name"]: item}) for item in items
            ]
        if "operator" in expr and isinstance(expr["operator"], dict):
            return self._operator(expr["operator"], scope)
        if "function" in expr and isinstance(expr["function"], dict):
            return self._function(expr["function"], scope)
        return {key: self.value(value, scope) for key, value in expr.items()}

    def _operator(self, op: dict[str, Any], scope: dict[str, Any]) -> Any:
        kind, operands = op["type"], op["operands"]
        if kind == "conditional":
            branch = "true_value" if self.value(operands["condition"], scope) else "false_value"
            return self.value(operands[branch], scope)
        if kind == "not":
            return not self.value(operands["bool_value"], scope)
        if kind == "minus" and "integer_value" in operands:
            return -int(operands["integer_value"])
        if kind in _BINARY:
            left = self.value(operands["operand_1"], scope)
            right = self.value(operands["operand_2"], scope)
            return _BINARY[kind](left, right)
        if kind == "property_accessor":
            return self._access(self.value(operands["operand_1"], scope), operands["operand_2"])
        if kind == "index_accessor":
            target = self.value(operands["operand_1"], scope)
            index = self.value(operands["operand_2"], scope)
            return target[index]
        raise Unresolved(f"operator {kind}")

    def _access(self, target: Any, key: Any) -> Any:
        """`target.key`; pycep nests a chain `a.b.c` as a.(b.c), so a key can be an accessor."""
        if isinstance(key, dict) and key.get("operator", {}).get("type") == "property_accessor":
            inner = key["operator"]["operands"]
            return self._access(self._access(target, inner["operand_1"]), inner["operand_2"])
        if not isinstance(target, dict) or not isinstance(key, str) or key not in target:
            raise Unresolved(f"property {key!r} of {target!r}")
        return target[key]

    def _function(self, fn: dict[str, Any], scope: dict[str, Any]) -> Any:
        kind = fn["type"]
        args = fn.get("parameters") or {}
        if kind == "filter":
            items = self.value(args["input_array"], scope)
            name = args["input_element"]
            return [item for item in items if self.value(args["expression"], {**scope, name: item})]
        values = [self.value(arg, scope) for arg in args.values()]
        if kind == "empty":
            return not values[0]
        if kind == "length":
            return len(values[0])
        if kind == "concat":
            if all(isinstance(v, list) for v in values):
                return [item for v in values for item in v]
            return "".join(str(v) for v in values)
        if kind == "union":
            merged: dict[str, Any] = {}
            for v in values:
                merged.update(v)
            return merged
        if kind == "string":
            v = values[0]
            return str(v).lower() if isinstance(v, bool) else str(v)
        if kind == "contains":
            return values[1] in values[0]
        raise Unresolved(f"function {kind}()")


def resource(parsed: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """The one (non-existing) resource of a type in a parsed file: its `config` body."""
    found = [
        r
        for r in parsed.get("resources", {}).values()
        if r["type"] == resource_type and not r["existing"]
    ]
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    config: dict[str, Any] = found[0]["config"]
    return config


def decorator(param: dict[str, Any], kind: str) -> Any:
    """The argument of a parameter's decorator (`allowed`, `min_value`, ...), or None."""
    for item in param.get("decorators", []):
        if item["type"] == kind:
            return item["argument"]
    return None
