"""Settings fail fast with the variable's name, refuse looser disclosure, and are documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth.levels import Level
from service.errors import ConfigError
from service.settings import Settings, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_the_federation_minimum() -> None:
    settings = load_settings()
    assert [settings.threshold_for(level) for level in Level] == [10, 10, 5, 1]
    assert [settings.rounding_for(level) for level in Level] == [5, 5, 1, 1]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"threshold_public": 9},
            "LNOB_THRESHOLD_PUBLIC=9 is looser than the federation minimum 10",
        ),
        ({"threshold_coalition": 2}, "LNOB_THRESHOLD_COALITION=2 is looser"),
        ({"rounding_government": 1}, "LNOB_ROUNDING_GOVERNMENT=1 is looser"),
        ({"max_page_size": "many"}, "LNOB_MAX_PAGE_SIZE"),
    ],
)
def test_invalid_settings_name_the_variable(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(**overrides)


def test_a_node_may_tighten_its_policy() -> None:
    settings = load_settings(threshold_public=20, rounding_public=10)
    assert settings.threshold_for(Level.PUBLIC) == 20
    assert settings.rounding_for(Level.PUBLIC) == 10


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LNOB_THRESHOLD_GOVERNMENT", "15")
    assert load_settings().threshold_for(Level.GOVERNMENT) == 15


def test_passphrase_is_never_printed() -> None:
    settings = load_settings(key_passphrase="correct horse battery staple")
    assert "correct horse" not in repr(settings) and "correct horse" not in str(settings)


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = [f"LNOB_{name.upper()}" for name in Settings.model_fields
               if f"`LNOB_{name.upper()}`" not in readme]  # fmt: skip
    assert not missing, f"undocumented settings: {missing}"
