"""A synthetic subject whose neurons follow the planted rules, behind the same `SubjectModel` seam.

It tokenizes with SmolLM2's own tokenizer, so the default corpus cuts into the very excerpts the
real model reads (the excerpt cache is keyed by tokenizer fingerprint and is shared), and it
exposes SmolLM2's input embeddings, so the builtin simulator's free-text matching and the probes'
near-miss tokens behave as they do on the real model. One layer; neuron i follows `rules[i]`.
It cannot sample text (no `generate`): model-primed probes are skipped, as for any such subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.planted.rules import RULES, Fire, Rule, TokenTable, jitter
from tools.errors import AssetMissingError
from tools.subject import smollm2
from tools.subject.base import SubjectInfo, TokenizedText, check_layer, check_neurons
from tools.subject.bridge import tokenize_texts, tokenizer_fingerprint

MODEL_ID = "planted-smollm2"


class PlantedSubject:
    def __init__(self, tokenizer: Any, rules: Sequence[Rule] = RULES, embeddings: np.ndarray | None = None) -> None:
        self.tokenizer = tokenizer
        self.rules = list(rules)
        self._pieces = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        self.table = TokenTable(self._pieces)
        self._fires: list[Fire] = [rule.build(self.table) for rule in self.rules]
        self._embeddings = embeddings
        self._info = SubjectInfo(
            model_id=MODEL_ID, n_layers=1, d_mlp=len(self.rules), vocab_size=len(self._pieces), prepend_bos=False,
            bos_token=None, tokenizer_sha256=tokenizer_fingerprint(tokenizer),
        )

    @property
    def info(self) -> SubjectInfo:
        return self._info

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        return tokenize_texts(self.tokenizer, texts, self.token_strings)

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        return [self._pieces[int(i)] for i in ids]

    def activations(self, sequences: Sequence[Sequence[int]], layer: int, neurons: Sequence[int] | None = None) -> list[np.ndarray]:
        check_layer(self.info, layer)
        chosen = list(range(len(self.rules))) if neurons is None else list(neurons)
        check_neurons(self.info, chosen)
        out = []
        for seq in sequences:
            ids = np.asarray(seq, dtype=np.int64)
            columns = [self._fires[n](ids) + jitter(ids, self.rules[n].name) for n in chosen]
            out.append(np.stack(columns, axis=1).astype(np.float32) if columns else np.zeros((len(ids), 0), np.float32))
        return out

    def token_embeddings(self) -> np.ndarray | None:
        return self._embeddings


def load_planted(cache_dir: Path, rules: Sequence[Rule] = RULES) -> PlantedSubject:
    """The planted subject over SmolLM2's tokenizer and embeddings from the converted model in `cache_dir`."""
    from safetensors import safe_open
    from transformers import AutoTokenizer

    directory = smollm2.model_dir(cache_dir)
    if not smollm2.is_converted(directory):
        raise AssetMissingError(f"SmolLM2-135M is not set up in {directory}: run `refinery setup` (or `make assets`) once")
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    with safe_open(str(directory / "model.safetensors"), "np") as weights:
        embeddings = weights.get_tensor("model.embed_tokens.weight").astype(np.float32)
    return PlantedSubject(tokenizer, rules, embeddings)
