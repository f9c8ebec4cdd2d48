"""YAML strategy specs read as written: a grid axis `fast: 5:50:5`, unquoted, is the range
5..50 step 5, not YAML 1.1's base-60 integer 21005 (PyYAML's safe_load reads it so)."""

from __future__ import annotations

import yaml

from shared.backtest import StrategySpec

SPEC = """
strategy: sma_cross
grid:
  fast: 5:50:5
  slow: 20:200:10
params: {}
"""


def test_pyyaml_alone_reads_the_readme_grid_as_a_base_60_integer() -> None:
    assert yaml.safe_load("fast: 5:50:5") == {"fast": 21005}  # the trap this guards against


def test_an_unquoted_range_in_yaml_is_the_range_as_written() -> None:
    spec = StrategySpec.from_yaml(SPEC)
    assert spec == StrategySpec.from_json(
        '{"strategy": "sma_cross", "grid": {"fast": "5:50:5", "slow": "20:200:10"}, "params": {}}'
    )
    assert spec.grid["fast"] == list(range(5, 51, 5))
    assert spec.grid["slow"] == list(range(20, 201, 10))


def test_yaml_numbers_other_than_base_60_keep_their_yaml_types() -> None:
    spec = StrategySpec.from_yaml(
        "strategy: sma_cross\ngrid:\n  fast: [5, 0x0A, 1_5]\n  slow: 30\n"
    )
    assert spec.grid["fast"] == [5, 10, 15]
    assert spec.grid["slow"] == [30]
