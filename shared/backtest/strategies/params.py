"""Parameter declarations: each strategy states its parameters (type, range, default) and the
relations between them (`fast < slow`) once; every entry point checks values against them."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.backtest.values import ParamValue, parse_number
from shared.errors import InvalidParameter

Kind = Literal["int", "float"]
Op = Literal["<", "<="]
_OPS: dict[str, Callable[[Any, Any], bool]] = {"<": operator.lt, "<=": operator.le}
MAX_WINDOW = 1_000_000
"""The largest window any built-in takes (a sanity bound; the bars decide what fits)."""


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Param:
    """One parameter: its kind (`int` refuses 2.5), default and inclusive bounds."""

    name: str
    kind: Kind
    default: ParamValue
    ge: float | None = None
    le: float | None = None
    doc: str = ""

    def rule(self) -> str:
        """The rule as text, e.g. `integer, 1 <= fast <= 1000000`."""
        low = f"{_show(self.ge)} <= " if self.ge is not None else ""
        high = f" <= {_show(self.le)}" if self.le is not None else ""
        kind = "integer" if self.kind == "int" else "number"
        return f"{kind}, {low}{self.name}{high}" if low or high else kind

    def check(self, strategy: str, value: Any) -> ParamValue:
        """`value` as this parameter's type, or `InvalidParameter` naming the rule broken."""
        where = f"{strategy}: {self.name}"
        if isinstance(value, bool) or value is None:
            raise InvalidParameter(f"{where}={value!r} must be a number ({self.rule()})")
        if isinstance(value, str):
            value = parse_number(value, where)
        if not isinstance(value, int | float):
            raise InvalidParameter(f"{where}={value!r} must be a number ({self.rule()})")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidParameter(f"{where}={value!r} must be a finite number ({self.rule()})")
        if self.kind == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise InvalidParameter(f"{where}={value!r} must be an integer ({self.rule()})")
                value = int(value)
        else:
            value = float(value)
        if self.ge is not None and value < self.ge:
            raise InvalidParameter(f"{where}={value!r} must be >= {_show(self.ge)} ({self.rule()})")
        if self.le is not None and value > self.le:
            raise InvalidParameter(f"{where}={value!r} must be <= {_show(self.le)} ({self.rule()})")
        return value


@dataclass(frozen=True)
class Relation:
    """`left op right` between two parameters of one combination, e.g. fast < slow."""

    left: str
    op: Op
    right: str

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"

    def holds(self, combo: Mapping[str, ParamValue]) -> bool:
        return _OPS[self.op](combo[self.left], combo[self.right])


@dataclass(frozen=True)
class Declaration:
    """A strategy's parameters in their order, and the relations a combination must meet."""

    strategy: str
    params: tuple[Param, ...]
    relations: tuple[Relation, ...] = ()

    @classmethod
    def from_defaults(cls, strategy: str, defaults: Mapping[str, ParamValue]) -> Declaration:
        """For a strategy that only sets `defaults`: int defaults make int parameters."""
        return cls(
            strategy,
            tuple(
                Param(name, "int" if isinstance(v, int) else "float", v)
                for name, v in defaults.items()
            ),
        )

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def defaults(self) -> dict[str, ParamValue]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise self.unknown([name])

    def unknown(self, names: Iterable[str]) -> InvalidParameter:
        listed = ", ".join(repr(n) for n in sorted(names))
        return InvalidParameter(
            f"{self.strategy} has no parameter {listed}; its parameters are "
            f"{', '.join(self.names) or 'none'}"
        )

    def check_names(self, names: Iterable[str]) -> None:
        unknown = set(names) - set(self.names)
        if unknown:
            raise self.unknown(unknown)

    def check_values(self, name: str, values: Sequence[Any]) -> list[ParamValue]:
        param = self.param(name)
        return [param.check(self.strategy, v) for v in values]

    def holds(self, combo: Mapping[str, ParamValue]) -> bool:
        return all(r.holds(combo) for r in self.relations)

    def check(self, given: Mapping[str, Any]) -> dict[str, ParamValue]:
        """One full combination from `given` (defaults for the rest): every name known, every
        value of its type and range, every relation met; else `InvalidParameter`."""
        self.check_names(given)
        combo = {p.name: p.check(self.strategy, given.get(p.name, p.default)) for p in self.params}
        for relation in self.relations:
            if not relation.holds(combo):
                left, right = combo[relation.left], combo[relation.right]
                raise InvalidParameter(
                    f"{self.strategy}: {relation.left}={left!r} must be {relation.op} "
                    f"{relation.right}={right!r} (rule {relation})"
                )
        return combo

    def rules(self) -> str:
        """Every rule as one line of text (the README table shows it)."""
        parts = [p.rule() for p in self.params] + [str(r) for r in self.relations]
        return "; ".join(parts)


def rules_table(declarations: Iterable[tuple[Declaration, str]]) -> str:
    """The README's markdown table of every parameter: kind, range, default, relations, and
    the bars a combination needs (each declaration with its `bars_needed_rule`)."""
    lines = [
        "| strategy | parameter | kind | range | default | relations | bars needed |",
        "|---|---|---|---|---|---|---|",
    ]
    for declared, needs in declarations:
        relations = ", ".join(f"`{r}`" for r in declared.relations) or "—"
        for k, p in enumerate(declared.params):
            low = "" if p.ge is None else _show(p.ge)
            high = "" if p.le is None else _show(p.le)
            span = f"{low}..{high}" if low or high else "any"
            first = f"`{declared.strategy}`" if k == 0 else ""
            rel, need = (relations, f"`{needs}`") if k == 0 else ("", "")
            lines.append(
                f"| {first} | `{p.name}` | {p.kind} | {span} | {_show(p.default)} | {rel} "
                f"| {need} |"
            )
    return "\n".join(lines)
