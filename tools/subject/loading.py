"""Boot a loaded Hugging Face model into the transformer-lens bridge: from memory or a local directory.

Below both `registry` (which picks the weights by name) and `smollm2` (whose conversion loads its
result once to check it), so neither imports the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from tools.subject.bridge import BridgeSubject
from tools.subject.device import DTYPES

log = structlog.get_logger(__name__)

GPT2_REPOS = {
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
}


def boot(hf_model: Any, tokenizer: Any, model_id: str, device: str, dtype: str) -> BridgeSubject:
    """`hf_model` (already loaded) cast to `dtype`, moved to `device`, and wrapped in the bridge."""
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
    return boot(model, tokenizer, model_id, device, dtype)
