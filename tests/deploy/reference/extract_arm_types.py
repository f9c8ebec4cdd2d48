"""Write arm_types.json: the ARM type definitions (from Azure/bicep-types-az, the types the
Bicep compiler itself checks templates against, generated from azure-rest-api-specs) of every
resource type@apiVersion that bicep/ declares, trimmed to what tests/deploy needs: property
names, read-only flags, array items and closed sets of string values.

    git clone --depth 1 https://github.com/Azure/bicep-types-az /tmp/bicep-types-az
    .venv/bin/python -m tests.deploy.reference.extract_arm_types /tmp/bicep-types-az

Re-run it after changing an apiVersion in bicep/ (test_references fails until you do).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.deploy import bicep_model as bm

OUT = Path(__file__).with_name("arm_types.json")
READ_ONLY = 2  # bicep-types flags: Required 1, ReadOnly 2, WriteOnly 4, DeployTimeConstant 8


def used_types() -> set[str]:
    used = set()
    for path in bm.bicep_files():
        for res in bm.parse(path).get("resources", {}).values():
            used.add(f"{res['type']}@{res['api_version']}")
    return used


def _index(root: Path) -> dict[str, tuple[Path, list[int]]]:
    """type@version -> (types.json, indexes of its ResourceType entries): a type whose
    instances have fixed names (sites/basicPublishingCredentialsPolicies: ftp, scm) has one
    entry per name."""
    found: dict[str, tuple[Path, list[int]]] = {}
    for path in sorted((root / "generated").rglob("types.json")):
        for i, entry in enumerate(json.loads(path.read_text())):
            if entry.get("$type") == "ResourceType":
                if entry["name"] not in found:
                    found[entry["name"]] = (path, [])
                if found[entry["name"]][0] == path:
                    found[entry["name"]][1].append(i)
    return found


class _Trimmer:
    def __init__(self, types: list[dict[str, Any]]) -> None:
        self.types = types
        self.defs: dict[str, Any] = {}

    def ref(self, node: dict[str, Any]) -> str:
        index = node["$ref"].split("/")[-1]
        if index not in self.defs:
            self.defs[index] = None  # cycle guard
            self.defs[index] = self.trim(self.types[int(index)])
        return index

    def trim(self, t: dict[str, Any]) -> Any:
        kind = t["$type"]
        if kind == "ObjectType":
            props = {
                name: {"type": self.ref(p["type"]), "readOnly": bool(p.get("flags", 0) & READ_ONLY)}
                for name, p in t.get("properties", {}).items()
            }
            return {"object": props, "open": "additionalProperties" in t}
        if kind == "DiscriminatedObjectType":
            props = {
                name: {"type": self.ref(p["type"]), "readOnly": bool(p.get("flags", 0) & READ_ONLY)}
                for name, p in t.get("baseProperties", {}).items()
            }
            for element in t.get("elements", {}).values():
                variant = self.trim(self.types[int(element["$ref"].split("/")[-1])])
                props.update(variant["object"])
            # the discriminator takes any of the variants' values
            props[t["discriminator"]] = {"type": None, "readOnly": False}
            return {"object": props, "open": False}
        if kind == "ArrayType":
            return {"array": self.ref(t["itemType"])}
        if kind == "UnionType":
            members = [self.types[int(e["$ref"].split("/")[-1])] for e in t["elements"]]
            if all(m["$type"] == "StringLiteralType" for m in members):
                return {"enum": sorted(m["value"] for m in members)}
            objects = [
                e for e, m in zip(t["elements"], members, strict=True) if "Object" in m["$type"]
            ]
            if objects:
                return {"anyOf": [self.ref(e) for e in objects]}
            return {"scalar": "union"}
        if kind == "StringLiteralType":
            return {"enum": [t["value"]]}
        return {"scalar": kind}


def main(root: Path) -> None:
    index = _index(root)
    pinned = root / "COMMIT"  # a partial export of the repository records its commit here
    commit = (
        pinned.read_text().strip()
        if pinned.exists()
        else subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    )
    out: dict[str, Any] = {
        "source": "https://github.com/Azure/bicep-types-az",
        "commit": commit,
        "types": {},
    }
    for name in sorted(used_types()):
        if name not in index:
            sys.exit(f"{name} is not in {root} (wrong apiVersion?)")
        path, entries = index[name]
        types = json.loads(path.read_text())
        trimmer = _Trimmer(types)
        out["types"][name] = {
            "file": str(path.relative_to(root)),
            "bodies": [trimmer.ref(types[i]["body"]) for i in entries],
            "defs": trimmer.defs,
        }
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({len(out['types'])} types, {OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
