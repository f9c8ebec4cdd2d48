"""Azure Functions (ASP.NET) route templates: parsing, constraints, matching and precedence."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation


class RouteTemplateError(ValueError):
    """A route template the Functions host would reject."""


def _is_number(kind: Callable[[str], object]) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            kind(value)
        except (ValueError, InvalidOperation):
            return False
        return True

    return check


def _is_bool(value: str) -> bool:
    return value.lower() in ("true", "false")


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _in_int_range(value: str, low: int | None, high: int | None) -> bool:
    try:
        number = int(value)
    except ValueError:
        return False
    return (low is None or number >= low) and (high is None or number <= high)


def _constraint(spec: str, template: str) -> Callable[[str], bool]:
    name, _, argument = spec.partition("(")
    args = [a.strip() for a in argument.removesuffix(")").split(",")] if argument else []
    simple: dict[str, Callable[[str], bool]] = {
        "int": lambda v: _in_int_range(v, -(2**31), 2**31 - 1),
        "long": lambda v: _in_int_range(v, -(2**63), 2**63 - 1),
        "bool": _is_bool,
        "alpha": lambda v: bool(re.fullmatch(r"[A-Za-z]+", v)),
        "guid": _is_guid,
        "datetime": _is_datetime,
        "decimal": _is_number(Decimal),
        "double": _is_number(float),
        "float": _is_number(float),
    }
    try:
        if name in simple and not args:
            return simple[name]
        if name == "regex" and argument:
            pattern = re.compile(argument.removesuffix(")"), re.IGNORECASE)
            return lambda v: pattern.search(v) is not None
        if name == "min" and len(args) == 1:
            return lambda v: _in_int_range(v, int(args[0]), None)
        if name == "max" and len(args) == 1:
            return lambda v: _in_int_range(v, None, int(args[0]))
        if name == "range" and len(args) == 2:
            return lambda v: _in_int_range(v, int(args[0]), int(args[1]))
        if name == "minlength" and len(args) == 1:
            return lambda v: len(v) >= int(args[0])
        if name == "maxlength" and len(args) == 1:
            return lambda v: len(v) <= int(args[0])
        if name == "length" and len(args) == 1:
            return lambda v: len(v) == int(args[0])
        if name == "length" and len(args) == 2:
            return lambda v: int(args[0]) <= len(v) <= int(args[1])
    except (ValueError, re.error) as error:
        raise RouteTemplateError(f"route {template!r}: bad constraint {spec!r}: {error}") from None
    raise RouteTemplateError(f"route {template!r}: unknown route constraint {spec!r}")


@dataclass(frozen=True)
class Parameter:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: tuple[Callable[[str], bool], ...] = ()

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.constraints)


@dataclass(frozen=True)
class RouteTemplate:
    """One parsed route template such as `items/{id:int}/{name?}` (without the prefix)."""

    template: str
    pattern: re.Pattern[str]
    parameters: tuple[Parameter, ...]
    precedence: tuple[int, ...] = field(compare=False)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for `path` (no leading slash, percent-decoded), or None."""
        trimmed = path.strip("/")
        found = self.pattern.fullmatch(f"/{trimmed}" if trimmed else "")
        if found is None:
            return None
        values: dict[str, str] = {}
        for parameter in self.parameters:
            value = found.group(_group(parameter.name))
            if value is None or value == "":
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                elif not (parameter.optional or parameter.catch_all):
                    return None
                continue
            if not parameter.accepts(value):
                return None
            values[parameter.name] = value
        return values


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _parse_parameter(body: str, template: str) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    name, *constraint_specs = _split_constraints(body)
    default: str | None = None
    optional = False
    if "=" in name:
        name, default = name.split("=", 1)
    if constraint_specs and "=" in constraint_specs[-1] and "(" not in constraint_specs[-1]:
        constraint_specs[-1], default = constraint_specs[-1].split("=", 1)
    if name.endswith("?"):
        name, optional = name[:-1], True
    if constraint_specs and constraint_specs[-1].endswith("?"):
        constraint_specs[-1], optional = constraint_specs[-1][:-1], True
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise RouteTemplateError(f"route {template!r}: bad parameter name {name!r}")
    return Parameter(
        name=name,
        optional=optional,
        catch_all=catch_all,
        default=default,
        constraints=tuple(_constraint(spec, template) for spec in constraint_specs),
    )


def _split_constraints(body: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in body:
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return parts


def _tokens(segment: str, template: str) -> tuple[list[str], list[str]]:
    """Split a segment into literals and parameter bodies ('{{' and '}}' are escapes)."""
    literals, names = [""], []
    position = 0
    while position < len(segment):
        char = segment[position]
        if segment.startswith(("{{", "}}"), position):
            literals[-1] += char
            position += 2
        elif char == "{":
            body = ""
            position += 1
            while position < len(segment):
                if segment.startswith("}}", position):
                    body += "}"
                    position += 2
                elif segment.startswith("{{", position):
                    body += "{"
                    position += 2
                elif segment[position] == "}":
                    break
                else:
                    body += segment[position]
                    position += 1
            if position >= len(segment):
                raise RouteTemplateError(f"route {template!r}: unclosed '{{'")
            names.append(body)
            literals.append("")
            position += 1
        elif char == "}":
            raise RouteTemplateError(f"route {template!r}: unmatched '}}'")
        else:
            literals[-1] += char
            position += 1
    return literals, names


def parse_route(template: str) -> RouteTemplate:
    """Parse a Functions route template (the part after the route prefix)."""
    text = template.strip("/")
    segments = text.split("/") if text else []
    regex = ""
    parameters: list[Parameter] = []
    precedence: list[int] = []
    for index, segment in enumerate(segments):
        if not segment:
            raise RouteTemplateError(f"route {template!r}: empty segment")
        literals, names = _tokens(segment, template)
        is_last = index == len(segments) - 1
        if len(names) == 1 and not literals[0] and not literals[1]:
            parameter = _parse_parameter(names[0], template)
            parameters.append(parameter)
            if parameter.catch_all:
                if not is_last:
                    raise RouteTemplateError(f"route {template!r}: catch-all must be last")
                regex += f"(?:/(?P<{_group(parameter.name)}>.*))?"
                precedence.append(5)
            elif parameter.optional or parameter.default is not None:
                regex += f"(?:/(?P<{_group(parameter.name)}>[^/]+))?"
                precedence.append(4)
            else:
                regex += f"/(?P<{_group(parameter.name)}>[^/]+)"
                precedence.append(2 if parameter.constraints else 3)
            continue
        part = ""
        for position, literal in enumerate(literals):
            part += re.escape(literal)
            if position < len(names):
                parameter = _parse_parameter(names[position], template)
                if parameter.catch_all or parameter.optional:
                    raise RouteTemplateError(
                        f"route {template!r}: optional/catch-all must be a whole segment"
                    )
                parameters.append(parameter)
                part += f"(?P<{_group(parameter.name)}>[^/]+?)"
        regex += "/" + part
        precedence.append(1 if not names else 2)
    seen = [p.name.lower() for p in parameters]
    if len(seen) != len(set(seen)):
        raise RouteTemplateError(f"route {template!r}: a parameter name is repeated")
    pattern = re.compile(regex, re.IGNORECASE)
    return RouteTemplate(text, pattern, tuple(parameters), tuple(precedence))
