"""`refinery records` end to end on the tiny model, and its answers to bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.main import main
from agent.cli.options import parse_index_list
from tools.errors import BadInputError


@pytest.fixture
def base_args(tmp_path: Path, session_cache: Path) -> list[str]:
    return ["--model", "tiny-llama", "--corpus", "pydoc", "--cache-dir", str(session_cache), "--excerpt-tokens", "32",
            "--max-excerpts", "200", "--out", str(tmp_path / "records")]


def test_records_json_output_and_files(base_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "--layer", "1", "--neurons", "0-3,9", "--json", *base_args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["written"] == 5 and out["skipped"] == 0 and out["model"] == "tiny-llama"
    assert [n["neuron"] for n in out["neurons"]] == [0, 1, 2, 3, 9]
    assert all(len(n["top_tokens"]) == 5 for n in out["neurons"])
    assert (tmp_path / "records" / "1" / "9.json").is_file()
    assert json.loads((tmp_path / "records" / "manifest.json").read_text())["n_excerpts"] == 200
    # A rerun skips everything.
    assert main(["records", "--layer", "1", "--neurons", "0-3,9", "--json", *base_args]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["written"] == 0 and again["skipped"] == 5


def test_records_table_output(base_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "--layer", "0", "--neurons", "4", *base_args]) == 0
    assert "0/4" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--layer", "9"], "valid layers are 0-3"),
        (["--layer", "0", "--neurons", "126-130"], "valid neurons are 0-127"),
        (["--layer", "0", "--neurons", "a-b"], "bad neuron list"),
        (["--layer", "0", "--model", "gpt-5"], "unknown model"),
    ],
)
def test_bad_input_is_a_clear_error(base_args: list[str], extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", *base_args, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_mixing_records_of_another_build_is_refused(base_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "--layer", "0", "--neurons", "1", *base_args]) == 0
    assert main(["records", "--layer", "0", "--neurons", "2", "--seed", "5", *base_args]) == 2
    assert "seed: has 0, asked 5" in capsys.readouterr().err


def test_malformed_record_file_is_named(base_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "--layer", "0", "--neurons", "1", *base_args]) == 0
    path = tmp_path / "records" / "0" / "1.json"
    path.write_text(path.read_text()[:100])
    assert main(["records", "--layer", "0", "--neurons", "1", *base_args]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "not valid JSON" in err


def test_empty_corpus_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "texts").mkdir()
    code = main(["records", "--layer", "0", "--model", "tiny-llama", "--corpus", str(tmp_path / "texts"), "--cache-dir", str(tmp_path)])
    assert code == 2 and "no .txt or .jsonl files" in capsys.readouterr().err


def test_index_lists() -> None:
    assert parse_index_list("0-3,9, 7") == [0, 1, 2, 3, 7, 9]
    with pytest.raises(BadInputError):
        parse_index_list("5-2")
    with pytest.raises(BadInputError):
        parse_index_list("-3")


def test_every_command_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli.main import COMMANDS

    for module in COMMANDS:
        name = module.__name__.rsplit("cmd_", 1)[1].replace("_", "-")
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "usage: refinery" in text and len(text) > 300


@pytest.mark.parametrize("command", ["records", "refine", "sweep", "explain", "demo"])
def test_device_and_dtype_options_are_offered(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "--device DEVICE" in text and "REFINERY_DEVICE" in text
    assert "--dtype {auto,float32,bfloat16,float16}" in text and "REFINERY_DTYPE" in text


def test_records_on_an_explicit_device_and_dtype(base_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "--layer", "1", "--neurons", "2", "--device", "cpu", "--dtype", "bfloat16", "--json", *base_args]) == 0
    capsys.readouterr()
    record = json.loads((tmp_path / "records" / "1" / "2.json").read_text())
    assert (record["provenance"]["device"], record["provenance"]["dtype"]) == ("cpu", "bfloat16")
    # More records in float32 would mix precisions in one directory: refused, with the way out.
    assert main(["records", "--layer", "1", "--neurons", "3", "--dtype", "float32", *base_args]) == 2
    assert "pass --dtype bfloat16" in capsys.readouterr().err
    # `auto` continues the directory in its own dtype.
    assert main(["records", "--layer", "1", "--neurons", "3", "--json", *base_args]) == 0
    assert json.loads((tmp_path / "records" / "1" / "3.json").read_text())["provenance"]["dtype"] == "bfloat16"


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--device", "gpu"], "unknown device 'gpu'"), (["--device", "cuda:7"], "--device cuda:7"),
     (["--dtype", "float8"], "invalid choice")],
)
def test_unusable_device_or_dtype_is_a_clear_error(base_args: list[str], extra: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if extra[:2] == ["--device", "cuda:7"] and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    try:
        code = main(["records", "--layer", "0", "--neurons", "1", *base_args, *extra])
    except SystemExit as exit_info:  # argparse refuses a value outside its choices itself
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
