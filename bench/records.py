"""bench/records: record-builder throughput against a bare forward, and peak RSS at two corpus sizes.

    .venv/bin/python -m bench.records [--layer 4] [--excerpts 1000] [--repeats 2] [--device auto] [--dtype auto]

Both sides run in the same process, on the same device and dtype, on the same excerpt batches,
interleaved `--repeats` times:
- bare forward: the HF model with one forward hook on layer L's MLP, stopped right after it
  (an exception ends the forward), no bookkeeping at all; on a GPU, timed to the end of its work;
- record builder: the full `build_layer_records` for every neuron of the layer (top-k, random and
  quantile samples, moments, JSON files); its pass alone (forward and accumulators, before any file
  is written) is reported too, since writing the files is a fixed cost per neuron that a longer
  corpus amortizes.
The ratio builder/bare is the number to watch (goal >= 0.9). On a shared machine wall time swings
with whatever else runs, so each side's CPU time (all its threads) is reported too, and its ratio. Peak RSS is measured in fresh child
processes building the same layer on two corpus sizes: it must not grow with the corpus.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from agent.settings import default_cache_dir
from bench.common import peak_rss_mib, write_result
from tools.corpus.corpus import load_corpus
from tools.corpus.excerpts import load_excerpts
from tools.records.builder import build_layer_records
from tools.records.store import RecordsManifest, RecordStore
from tools.subject.registry import load_subject


class _Stop(Exception):
    pass


def bare_forward_tok_s(subject, excerpts: np.ndarray, layer: int, batch_size: int) -> tuple[float, float]:  # noqa: ANN001
    """(tokens per wall second, tokens per CPU second) of the bare forward."""
    import torch

    mlp = subject.hf_model.model.layers[layer].mlp if hasattr(subject.hf_model, "model") else subject.hf_model.transformer.h[layer].mlp

    def stop(module, args, output):  # noqa: ANN001, ANN202
        raise _Stop

    handle = mlp.register_forward_hook(stop)
    bos = subject.tokenizer.bos_token_id
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        with torch.inference_mode():
            for i in range(0, len(excerpts), batch_size):
                batch = torch.as_tensor(np.array(excerpts[i : i + batch_size]), dtype=torch.long)
                ids = torch.cat([torch.full((len(batch), 1), bos), batch], dim=1).to(subject.device)
                with contextlib.suppress(_Stop):
                    subject.hf_model(ids)
        _synchronize(subject.device)
    finally:
        handle.remove()
    return excerpts.size / (time.perf_counter() - started), excerpts.size / (time.process_time() - cpu_started)


def _synchronize(device) -> None:  # noqa: ANN001
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _device_name(device) -> str:  # noqa: ANN001
    import platform

    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "Apple GPU (MPS)" if device.type == "mps" else (platform.processor() or platform.machine())


def manifest_for(subject, corpus, n_excerpts: int, length: int) -> RecordsManifest:  # noqa: ANN001
    return RecordsManifest(
        model_id=subject.info.model_id, tokenizer_sha256=subject.info.tokenizer_sha256, corpus_id=corpus.corpus_id,
        corpus_sha256=corpus.sha256, excerpt_tokens=length, n_excerpts=n_excerpts, prepend_bos=subject.info.prepend_bos,
        top_k=50, n_random=50, n_per_quantile=5, seed=0, dtype=subject.info.dtype,
    )


def builder_tok_s(subject, corpus, excerpts: np.ndarray, layer: int, batch_size: int) -> dict[str, float]:  # noqa: ANN001
    """Tokens per wall second and per CPU second of the whole build, and of its pass alone (forward and
    accumulators, no files)."""
    with tempfile.TemporaryDirectory() as tmp:
        started, cpu_started = time.perf_counter(), time.process_time()
        report = build_layer_records(
            subject, excerpts, layer, list(range(subject.info.d_mlp)), RecordStore(Path(tmp)),
            manifest_for(subject, corpus, len(excerpts), excerpts.shape[1]), corpus.corpus_id, batch_size=batch_size,
            checkpoint_seconds=float("inf"),
        )
        return {"whole": excerpts.size / (time.perf_counter() - started), "pass": excerpts.size / report.seconds,
                "whole_cpu": excerpts.size / (time.process_time() - cpu_started), "pass_cpu": excerpts.size / report.cpu_seconds}


def child_rss(args: argparse.Namespace) -> None:
    subject = load_subject(args.model, cache_dir=args.cache_dir, device=args.device, dtype=args.dtype)
    corpus = load_corpus(args.corpus, args.cache_dir)
    excerpts = load_excerpts(subject, corpus, args.cache_dir, 64)[: args.excerpts]
    before = peak_rss_mib()
    rate = builder_tok_s(subject, corpus, excerpts, args.layer, args.batch_size)["whole"]
    print(json.dumps({"excerpts": int(len(excerpts)), "peak_rss_mib": round(peak_rss_mib(), 1),
                      "peak_rss_before_pass_mib": round(before, 1), "tokens_per_s": round(rate)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--corpus", default="default")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--layer", type=int, default=4)
    parser.add_argument("--excerpts", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=None, help="excerpts per forward (default: the subject's choice for its device, 32 on the CPU)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (both sides run there)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rss-sizes", default="500,2000", help="corpus sizes (excerpts) for the peak-RSS children")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="default runs: results go to bench/results/ (committed); any other DIR: to DIR/bench/")
    parser.add_argument("--child-rss", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rss:
        child_rss(args)
        return

    subject = load_subject(args.model, cache_dir=args.cache_dir, device=args.device, dtype=args.dtype)
    corpus = load_corpus(args.corpus, args.cache_dir)
    excerpts = np.asarray(load_excerpts(subject, corpus, args.cache_dir, 64)[: args.excerpts])
    args.batch_size = args.batch_size or subject.batch_size(excerpts.shape[1], subject.info.d_mlp)
    bare, bare_cpu, built, passes, built_cpu, passes_cpu = [], [], [], [], [], []
    for _ in range(args.repeats):
        wall, cpu = bare_forward_tok_s(subject, excerpts, args.layer, args.batch_size)
        bare.append(wall)
        bare_cpu.append(cpu)
        rates = builder_tok_s(subject, corpus, excerpts, args.layer, args.batch_size)
        built.append(rates["whole"])
        passes.append(rates["pass"])
        built_cpu.append(rates["whole_cpu"])
        passes_cpu.append(rates["pass_cpu"])
    rss = []
    for size in (int(s) for s in args.rss_sizes.split(",")):
        out = subprocess.run(
            [sys.executable, "-m", "bench.records", "--child-rss", "--model", args.model, "--corpus", args.corpus,
             "--cache-dir", str(args.cache_dir), "--layer", str(args.layer), "--excerpts", str(size),
             "--batch-size", str(args.batch_size), "--device", subject.info.device, "--dtype", subject.info.dtype],
            capture_output=True, text=True, check=True,
        )
        rss.append(json.loads(out.stdout.strip().splitlines()[-1]))
    result = {
        "model": args.model, "layer": args.layer, "neurons": subject.info.d_mlp, "excerpts": len(excerpts),
        "tokens": int(excerpts.size), "batch_size": args.batch_size, "device": subject.info.device,
        "dtype": subject.info.dtype, "device_name": _device_name(subject.device),
        "bare_forward_tok_s": [round(x) for x in bare], "builder_tok_s": [round(x) for x in built],
        "ratio": round(float(np.median(built) / np.median(bare)), 3),
        "pass_tok_s": [round(x) for x in passes], "pass_ratio": round(float(np.median(passes) / np.median(bare)), 3),
        "bare_forward_tok_per_cpu_s": [round(x) for x in bare_cpu], "builder_tok_per_cpu_s": [round(x) for x in built_cpu],
        "pass_tok_per_cpu_s": [round(x) for x in passes_cpu],
        "cpu_ratio": round(float(np.median(built_cpu) / np.median(bare_cpu)), 3),
        "pass_cpu_ratio": round(float(np.median(passes_cpu) / np.median(bare_cpu)), 3),
        "peak_rss": rss,
    }
    path = write_result("records", result, args.runs_dir)
    print(f"model {args.model}, layer {args.layer}, all {subject.info.d_mlp} neurons, {excerpts.size:,} tokens, batch {args.batch_size}")
    print(f"device {subject.info.device} ({result['device_name']}), dtype {subject.info.dtype}: both sides ran there")
    print(f"  bare forward (HF, one hook, early exit): {np.median(bare):8.0f} tok/s  {bare}")
    print(f"  record builder (whole layer):            {np.median(built):8.0f} tok/s  {built}")
    print(f"  of which the pass (forward, accumulators): {np.median(passes):6.0f} tok/s  {passes}")
    print(f"  ratio builder / bare:                    {result['ratio']:.3f}   (goal >= 0.9)")
    print(f"  ratio pass / bare (files left out):      {result['pass_ratio']:.3f}")
    print(f"  per CPU second (steadier on a shared machine): bare {np.median(bare_cpu):.0f}, builder {np.median(built_cpu):.0f}, "
          f"pass {np.median(passes_cpu):.0f} tok/CPU-s")
    print(f"  CPU-time ratio builder / bare:           {result['cpu_ratio']:.3f}   pass / bare: {result['pass_cpu_ratio']:.3f}")
    for r in rss:
        print(f"  peak RSS building from {r['excerpts']:>6,} excerpts: {r['peak_rss_mib']:8.1f} MiB")
    print(f"written {path}")


if __name__ == "__main__":
    main()
