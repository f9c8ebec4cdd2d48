"""The README's settings table is generated from shared/config.py and must not drift."""

from __future__ import annotations

from shared.config import Settings, setting_names
from tools.settings_table import README, readme_table, settings_table


def test_readme_settings_table_matches_config() -> None:
    current = readme_table(README.read_text())
    assert current is not None, "README.md lost the settings-table markers (section:settings)"
    assert current == settings_table(), (
        "README.md's settings table is out of date with shared/config.py (a setting was added "
        "or changed). Regenerate it: `.venv/bin/python tools/settings_table.py --write`, "
        "then commit README.md."
    )


def test_table_lists_every_setting_once() -> None:
    rows = settings_table().splitlines()[2:]
    names = [row.split("`")[1] for row in rows]
    assert names == [name.upper() for name in Settings.model_fields]
    assert sorted(names) == setting_names()
    assert len(set(names)) == len(names)
