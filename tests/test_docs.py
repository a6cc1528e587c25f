"""The documentation keeps up with the code."""

from __future__ import annotations

from pathlib import Path

from intuitivus_flow.config import Settings

ROOT = Path(__file__).parents[1]


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"FLOW_{name.upper()}"
        for name in Settings.model_fields
        if f"`FLOW_{name.upper()}`" not in readme
    ]
    assert not missing, f"add these to the README's settings table: {missing}"


def test_every_setting_explains_itself_somewhere() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        row = next(line for line in readme.splitlines() if f"`FLOW_{name.upper()}`" in line)
        assert field.description or len(row.split("|")[3].strip()) > 10, name
