"""Route templates match as the Functions host (ASP.NET routing) matches them."""

from __future__ import annotations

import pytest

from devhost.routes import RouteTemplateError, parse_route


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("health", "health", {}),
        ("health", "Health/", {}),
        ("health", "healthz", None),
        ("items/{id}", "items/abc", {"id": "abc"}),
        ("items/{id}", "items", None),
        ("items/{id:int}", "items/12", {"id": "12"}),
        ("items/{id:int}", "items/1.5", None),
        ("items/{id:int}", "items/99999999999", None),
        ("items/{id:long}", "items/99999999999", {"id": "99999999999"}),
        ("w/{x:alpha}", "w/Abc", {"x": "Abc"}),
        ("w/{x:alpha}", "w/ab1", None),
        (
            "w/{x:guid}",
            "w/4f1c3c8e-8d7e-4c51-9d8e-1f2a3b4c5d6e",
            {"x": "4f1c3c8e-8d7e-4c51-9d8e-1f2a3b4c5d6e"},
        ),
        ("w/{x:bool}", "w/TRUE", {"x": "TRUE"}),
        ("w/{x:minlength(3)}", "w/ab", None),
        ("w/{x:range(1,5)}", "w/5", {"x": "5"}),
        ("w/{x:range(1,5)}", "w/6", None),
        ("w/{x:int:min(10)}", "w/9", None),
        ("w/{x:regex(^[a-z]{{2}}$)}", "w/ab", {"x": "ab"}),
        ("w/{x:regex(^[a-z]{{2}}$)}", "w/abc", None),
        ("a/{id?}", "a", {}),
        ("a/{id?}", "a/5", {"id": "5"}),
        ("a/{id:int?}", "a/x", None),
        ("a/{id=7}", "a", {"id": "7"}),
        ("a/{b}/{c?}", "a/1/2", {"b": "1", "c": "2"}),
        ("f/{*rest}", "f/x/y/z.txt", {"rest": "x/y/z.txt"}),
        ("f/{*rest}", "f", {}),
        ("v/{name}.{ext}", "v/report.csv", {"name": "report", "ext": "csv"}),
        ("{id?}", "", {}),
    ],
)
def test_match(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert parse_route(template).match(path) == expected


@pytest.mark.parametrize(
    "template",
    ["a/{x:nosuch}", "a/{*rest}/b", "a/{x}/{x}", "a/{unclosed", "a//b", "a/{1bad}"],
)
def test_invalid_templates_are_rejected(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        parse_route(template)


def test_literal_segments_take_precedence_over_parameters() -> None:
    ordered = sorted(
        [parse_route("items/{id}"), parse_route("items/{id:int}"), parse_route("items/new")],
        key=lambda r: r.precedence,
    )
    assert [r.template for r in ordered] == ["items/new", "items/{id:int}", "items/{id}"]
