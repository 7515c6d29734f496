"""`ScriptSettings`: the examples' presets and their environment overrides."""

import pytest

from keras_semppl.script_settings import ScriptSettings


@pytest.mark.backend_free
def test_presets_and_typed_overrides(monkeypatch):
    monkeypatch.delenv("SEMPPL_EPOCHS", raising=False)
    assert ScriptSettings(small=False)("EPOCHS", 100, 1) == 100
    assert ScriptSettings(small=True)("EPOCHS", 100, 1) == 1
    monkeypatch.setenv("SEMPPL_EPOCHS", "7")
    got = ScriptSettings(small=True)("EPOCHS", 100, 1)
    assert got == 7 and isinstance(got, int)
    monkeypatch.setenv("SEMPPL_RATE", "0.5")
    assert ScriptSettings(small=False)("RATE", 1.0, 2.0) == 0.5
    monkeypatch.setenv("SEMPPL_EPOCHS", "many")
    with pytest.raises(ValueError, match=r"SEMPPL_EPOCHS='many' is not a valid int"):
        ScriptSettings(small=False)("EPOCHS", 100, 1)
