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


def test_budget_options_mean_the_same_in_refine_and_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    """--budget-* is the whole command, --per-neuron-* each neuron, in every command that takes budgets."""
    from agent.cli.main import _settings_from, build_parser

    parser = build_parser()
    budgets = ["--budget-usd", "2", "--budget-tokens", "900", "--budget-hours", "1.5",
               "--per-neuron-usd", "0.5", "--per-neuron-tokens", "300", "--per-neuron-minutes", "4"]
    for command in (["refine", "--layer", "0", "--neuron", "0"], ["sweep", "--layers", "0"]):
        settings = _settings_from(parser.parse_args([*command, *budgets]))
        assert (settings.budget_usd, settings.budget_tokens, settings.budget_hours) == (2, 900, 1.5)
        assert (settings.per_neuron_usd, settings.per_neuron_tokens, settings.per_neuron_minutes) == (0.5, 300, 4)
        with pytest.raises(SystemExit):
            parser.parse_args([*command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--budget-*: the whole command, all neurons; --per-neuron-*: each neuron" in text
        assert "--budget-usd USD Dollars for the whole command" in text and "--per-neuron-usd USD Dollars per neuron" in text
    # refine's old per-neuron name is gone rather than silently meaning something else.
    with pytest.raises(SystemExit):
        parser.parse_args(["refine", "--layer", "0", "--neuron", "0", "--budget-minutes", "5"])


def test_a_shifted_prompt_logprob_server_is_told_to_the_client() -> None:
    """--llm-prompt-logprobs-shifted (your own llama-cpp-python server) reaches the client config, whose
    realignment tests/llm/test_client.py checks over loopback HTTP."""
    from agent.backends import llm_config
    from agent.cli.main import _settings_from, build_parser

    base = ["refine", "--layer", "0", "--neuron", "0", "--backend", "llm", "--llm-base-url", "http://127.0.0.1:9/v1"]
    parser = build_parser()
    plain = llm_config(_settings_from(parser.parse_args(base)))
    shifted = llm_config(_settings_from(parser.parse_args([*base, "--llm-prompt-logprobs-shifted"])))
    assert (plain.prompt_logprobs_shifted, shifted.prompt_logprobs_shifted) == (False, True)


def test_the_output_side_is_on_by_default_and_off_by_flag_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.cli.main import _settings_from, build_parser
    from agent.params import refine_params

    parser = build_parser()
    for command in (["refine", "--layer", "0", "--neuron", "0"], ["sweep", "--layers", "0"]):
        assert refine_params(_settings_from(parser.parse_args(command))).output_side
        assert not refine_params(_settings_from(parser.parse_args([*command, "--no-output-side"]))).output_side
        monkeypatch.setenv("REFINERY_OUTPUT_SIDE", "false")
        assert not refine_params(_settings_from(parser.parse_args(command))).output_side
        assert refine_params(_settings_from(parser.parse_args([*command, "--output-side"]))).output_side
        monkeypatch.delenv("REFINERY_OUTPUT_SIDE")


def test_the_output_hint_is_off_and_the_judge_free_by_default_on_every_explaining_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.cli.main import _settings_from, build_parser
    from agent.params import refine_params

    parser = build_parser()
    for command in (["refine", "--layer", "0", "--neuron", "0"], ["sweep", "--layers", "0"], ["explain", "--layer", "0", "--neuron", "0"]):
        params = refine_params(_settings_from(parser.parse_args(command)))
        assert not params.explain_output_hint and params.judge == "auto"
        params = refine_params(_settings_from(parser.parse_args([*command, "--explain-output-hint", "--judge", "llm"])))
        assert params.explain_output_hint and params.judge == "llm"
        monkeypatch.setenv("REFINERY_EXPLAIN_OUTPUT_HINT", "true")
        assert refine_params(_settings_from(parser.parse_args(command))).explain_output_hint
        assert not refine_params(_settings_from(parser.parse_args([*command, "--no-explain-output-hint"]))).explain_output_hint
        monkeypatch.delenv("REFINERY_EXPLAIN_OUTPUT_HINT")
    score = ["score", "--layer", "0", "--neuron", "0", "--explanation", "x"]
    assert _settings_from(parser.parse_args([*score, "--judge", "builtin"])).judge == "builtin"


def test_an_llm_judge_with_the_builtin_backend_is_refused_before_any_work() -> None:
    from agent.params import refine_params
    from agent.spending import guard_spending
    from tools.errors import BadInputError

    settings = Settings(backend="builtin", judge="llm")
    with pytest.raises(BadInputError, match="--judge llm needs an LLM"):
        guard_spending(settings, "builtin", None, refine_params(settings), 1, job="refine", budgeted=True)
