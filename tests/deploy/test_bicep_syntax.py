"""bicep/ read by a second parser that shares nothing with pycep-parser (tree-sitter's Bicep
grammar): every file is free of syntax errors, and both parsers find the same declarations,
so what tests/deploy checks through pycep is what the file says."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

from tests.deploy import bicep_model as bm


@cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_bicep.language()))


def _tree(source: bytes) -> Node:
    return _parser().parse(source).root_node


def _errors(node: Node) -> list[str]:
    found: list[str] = []
    if node.type == "ERROR" or node.is_missing:
        row, column = node.start_point
        text = (node.text or b"")[:60].decode(errors="replace")
        found.append(f"line {row + 1}, column {column + 1}: {node.type} {text!r}")
    for child in node.children:
        found += _errors(child)
    return found


def _declarations(root: Node) -> dict[str, set[Any]]:
    """Names of the top-level declarations, and each resource's type@apiVersion."""
    kinds = {
        "parameter_declaration": "parameters",
        "variable_declaration": "variables",
        "resource_declaration": "resources",
        "module_declaration": "modules",
        "output_declaration": "outputs",
    }
    found: dict[str, set[Any]] = {kind: set() for kind in kinds.values()}
    for node in root.named_children:
        if node.type not in kinds:
            continue
        name = next(c for c in node.named_children if c.type == "identifier")
        text = (name.text or b"").decode()
        if node.type == "resource_declaration":
            type_node = next(c for c in node.named_children if c.type == "string")
            text = f"{text} {(type_node.text or b'').decode().strip(chr(39))}"
        found[kinds[node.type]].add(text)
    return found


def _pycep_declarations(path: Path) -> dict[str, set[Any]]:
    parsed = bm.parse(path)
    found: dict[str, set[Any]] = {
        kind: set(parsed.get(kind, {}))
        for kind in ("parameters", "variables", "modules", "outputs")
    }
    found["resources"] = {
        f"{name} {res['type']}@{res['api_version']}"
        for name, res in parsed.get("resources", {}).items()
    }
    return found


@pytest.mark.parametrize("path", bm.bicep_files(), ids=lambda p: p.name)
def test_every_bicep_file_is_free_of_syntax_errors(path: Path) -> None:
    errors = _errors(_tree(path.read_bytes()))
    assert not errors, f"{path.relative_to(bm.ROOT)}:\n" + "\n".join(errors)


@pytest.mark.parametrize("path", bm.bicep_files(), ids=lambda p: p.name)
def test_both_parsers_find_the_same_declarations(path: Path) -> None:
    assert _declarations(_tree(path.read_bytes())) == _pycep_declarations(path)


def test_the_grammar_rejects_a_broken_file() -> None:
    broken = b"param location string\nresource r 'A/b@2020-01-01' = {\n  name: 'x'\n"
    assert _errors(_tree(broken))
    unbalanced = b"var x = (!empty(a) || b\n"
    assert _errors(_tree(unbalanced))


# pycep-parser 0.5 associates some unparenthesised mixes wrongly (`!empty(a) || b` becomes
# `!(empty(a) || b)`, `s.x ? a : b` becomes `s.(x ? a : b)`, `a == 'x' && b` becomes
# `a == ('x' && b)`), and tests/deploy evaluates its trees. So bicep/ writes every operand of
# an operator as something pycep cannot misread: a name, a literal, a call, a parenthesised
# expression, or the same associative operator again.
SIMPLE_OPERANDS = {
    "identifier",
    "string",
    "number",
    "boolean",
    "null",
    "call_expression",
    "parenthesized_expression",
    "array",
    "object",
}


def _operator(node: Node) -> str:
    return next(((c.text or b"").decode() for c in node.children if not c.is_named), "")


def _ambiguous(node: Node) -> list[str]:
    found: list[str] = []
    operands: list[Node] = []
    if node.type == "ternary_expression":
        operands = [node.named_children[0]]
    elif node.type == "binary_expression":
        operands = list(node.named_children)
    for operand in operands:
        same_chain = (
            node.type == "binary_expression"
            and operand.type == "binary_expression"
            and _operator(operand) == _operator(node)
            and _operator(node) in ("||", "&&")
        )
        if operand.type not in SIMPLE_OPERANDS and not same_chain:
            row = operand.start_point[0] + 1
            found.append(f"line {row}: parenthesise {(operand.text or b'').decode()!r}")
    for child in node.children:
        found += _ambiguous(child)
    return found


@pytest.mark.parametrize("path", bm.bicep_files(), ids=lambda p: p.name)
def test_operators_have_operands_pycep_reads_the_way_bicep_does(path: Path) -> None:
    found = _ambiguous(_tree(path.read_bytes()))
    assert not found, f"{path.name}:\n" + "\n".join(found)


def test_the_operand_rule_flags_what_pycep_misreads() -> None:
    source = b"var a = !empty(x) || y\nvar b = s.provided ? 1 : 0\nvar c = a == 'x' && b\n"
    assert len(_ambiguous(_tree(source))) == 3
    fine = (
        b"var a = (!empty(x)) || y || z\nvar b = (s.provided) ? 1 : 0\nvar c = empty(a) ? 1 : 0\n"
    )
    assert _ambiguous(_tree(fine)) == []
