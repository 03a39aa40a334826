"""`SubjectModel` over a transformer-lens 4.x `TransformerBridge` wrapping a loaded HF model."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import structlog
import torch

from tools.subject.base import SubjectInfo, TokenizedText, check_layer, check_neurons

log = structlog.get_logger(__name__)


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of the tokenizer's full serialized definition (vocab, merges, normalizers)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    blob = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def tokenize_texts(tokenizer: Any, texts: Sequence[str], token_strings: Callable[[Sequence[int]], list[str]]) -> list[TokenizedText]:
    """Texts through a Hugging Face tokenizer without special tokens, with each id's piece."""
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [TokenizedText(text=t, ids=list(ids), tokens=token_strings(ids)) for t, ids in zip(texts, encoded, strict=True)]


class BridgeSubject:
    """Reads `blocks.{L}.mlp.hook_post` through the bridge, stopping after layer L.

    Inputs are right-padded: with causal attention, real tokens never attend to padding, and the
    padded positions are sliced away before anything is returned. When `prepend_bos` is set the
    tokenizer's BOS id is put in front of every sequence and its position is dropped from the output.
    """

    def __init__(self, bridge: Any, hf_model: Any, tokenizer: Any, model_id: str, prepend_bos: bool = True,
                 max_batch_tokens: int = 4096) -> None:
        self.bridge = bridge
        self.hf_model = hf_model
        self.tokenizer = tokenizer
        self.max_batch_tokens = max_batch_tokens
        bos_id = tokenizer.bos_token_id
        self._bos_id: int | None = bos_id if prepend_bos and bos_id is not None else None
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._pad_id: int = int(pad_id if pad_id is not None else 0)
        cfg = bridge.cfg
        self._info = SubjectInfo(
            model_id=model_id,
            n_layers=int(cfg.n_layers),
            d_mlp=int(cfg.d_mlp),
            vocab_size=int(cfg.d_vocab),
            prepend_bos=self._bos_id is not None,
            bos_token=tokenizer.bos_token if self._bos_id is not None else None,
            tokenizer_sha256=tokenizer_fingerprint(tokenizer),
        )

    @property
    def info(self) -> SubjectInfo:
        return self._info

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        return tokenize_texts(self.tokenizer, texts, self.token_strings)

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        return [self.tokenizer.decode([int(i)]) for i in ids]

    def activations(
        self, sequences: Sequence[Sequence[int]], layer: int, neurons: Sequence[int] | None = None
    ) -> list[np.ndarray]:
        check_layer(self.info, layer)
        if neurons is not None:
            check_neurons(self.info, neurons)
        out: list[np.ndarray | None] = [None] * len(sequences)
        # Sorting by length keeps padding small when lengths vary (probes); equal lengths cost nothing.
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        start = 0
        while start < len(order):
            longest = len(sequences[order[start]])
            end = start + 1
            while end < len(order):
                longest = max(longest, len(sequences[order[end]]))
                if (end + 1 - start) * (longest + 1) > self.max_batch_tokens:
                    break
                end += 1
            chunk = order[start:end]
            for i, values in zip(chunk, self._forward([sequences[i] for i in chunk], layer, neurons), strict=True):
                out[i] = values
            start = end
        return [v for v in out if v is not None]

    def _forward(self, sequences: list[Sequence[int]], layer: int, neurons: Sequence[int] | None) -> list[np.ndarray]:
        offset = 1 if self._bos_id is not None else 0
        width = offset + max((len(s) for s in sequences), default=0)
        ids = torch.full((len(sequences), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            if offset:
                ids[row, 0] = self._bos_id
            ids[row, offset : offset + len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
            mask[row, : offset + len(seq)] = 1
        index = torch.as_tensor(list(neurons), dtype=torch.long) if neurons is not None else None
        captured: dict[str, torch.Tensor] = {}

        def keep(act: torch.Tensor, hook: Any) -> None:
            captured["post"] = act if index is None else act.index_select(-1, index)

        with torch.inference_mode():
            self.bridge.run_with_hooks(
                ids, fwd_hooks=[(f"blocks.{layer}.mlp.hook_post", keep)], stop_at_layer=layer + 1, attention_mask=mask
            )
        post = captured["post"].float().numpy()
        return [np.ascontiguousarray(post[row, offset : offset + len(seq)]) for row, seq in enumerate(sequences)]

    def generate(self, prompt_ids: Sequence[int], max_new_tokens: int, temperature: float, seed: int) -> list[int]:
        prefix = [self._bos_id] if self._bos_id is not None else []
        ids = torch.as_tensor([prefix + list(prompt_ids)], dtype=torch.long)
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            out = self.hf_model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=temperature > 0,
                temperature=max(temperature, 1e-5),
                top_k=0,
                pad_token_id=self._pad_id,
            )
        return [int(t) for t in out[0, ids.shape[1] :]]

    def token_embeddings(self) -> np.ndarray:
        """The input embedding matrix, shape (vocab, d_model), float32."""
        return self.hf_model.get_input_embeddings().weight.detach().float().numpy()

    def next_token_distribution(self, text: str) -> list[tuple[str, float]]:
        """Top next tokens and probabilities after `text` (full forward with logits; sanity checks)."""
        ids = self.tokenize([text])[0].ids
        prefix = [self._bos_id] if self._bos_id is not None else []
        with torch.inference_mode():
            logits = self.bridge(torch.as_tensor([prefix + ids]))[0, -1]
        probs = logits.float().softmax(-1)
        top = probs.topk(5)
        return [(self.tokenizer.decode([int(i)]), float(p)) for p, i in zip(top.values, top.indices, strict=True)]
