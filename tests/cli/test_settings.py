from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import Settings


def test_precedence_cli_over_env_over_dotenv_over_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "refinery.toml").write_text('model = "tiny-gpt2"\ncorpus = "pydoc"\nseed = 7\ntop_k = 20\n')
    (tmp_path / ".env").write_text("REFINERY_CORPUS=from-dotenv\nREFINERY_SEED=8\n")
    monkeypatch.setenv("REFINERY_SEED", "9")
    settings = Settings(top_k=30)
    assert settings.model == "tiny-gpt2"  # toml only
    assert settings.corpus == "from-dotenv"  # .env beats toml
    assert settings.seed == 9  # environment beats .env
    assert settings.top_k == 30  # flags beat everything


def test_invalid_setting_from_environment_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.cli.main import main

    monkeypatch.setenv("REFINERY_TOP_K", "many")
    assert main(["records", "--layer", "0"]) == 2
