"""`SubjectModel` over a transformer-lens 4.x `TransformerBridge` wrapping a loaded HF model.

The model may sit on any torch device and in any floating dtype: inputs are moved to it, and
activations always come back as float32 (numpy for `activations`, a device tensor for the records
pass's `activations_tensor`, which never leaves the device).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import structlog
import torch

from tools.subject.base import SubjectInfo, TokenizedText, check_layer, check_neurons
from tools.subject.device import (
    DEFAULT_CPU_BATCH,
    DEFAULT_CPU_BATCH_TOKENS,
    batch_size_for_memory,
    forward_bytes_per_sequence,
    free_memory,
    one_cpu_thread,
)
from tools.subject.output_side import OutputSide, read_output_side

log = structlog.get_logger(__name__)

PAD_MULTIPLE = 16
"""Sequences of different lengths run padded to the next multiple of this many positions, never to
the longest sequence beside them: padded to another width, a sequence's values change in their last
bits, so they would depend on what a sweep happened to batch it with, and a resumed run could
decide differently from an uninterrupted one."""


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of the tokenizer's full serialized definition (vocab, merges, normalizers)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    blob = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def unwrapped(module: torch.nn.Module) -> torch.nn.Module:
    """`module` with every bridge component replaced by the Hugging Face module it wraps.

    The bridge swaps its components into the HF model in place. Sampling through them is slow (every
    hook point runs for every new token) and wrong: transformer-lens 4.3's re-implemented attention
    ignores the KV cache a decoding step hands it, so each new token was computed as if it were the whole
    text. The view shares the parameters and buffers (only the module containers on the way down to
    a bridge are copied) and leaves the bridged model untouched.
    """
    from transformer_lens.model_bridge.generalized_components.base import GeneralizedComponent

    while isinstance(module, GeneralizedComponent) and module.original_component is not None:
        module = module.original_component
    children = {name: unwrapped(child) if child is not None else None for name, child in module._modules.items()}
    if all(children[name] is child for name, child in module._modules.items()):
        return module
    view = copy.copy(module)
    view._modules = children
    return view


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
                 max_batch_tokens: int | None = None) -> None:
        self.bridge = bridge
        self.hf_model = hf_model
        self._plain = unwrapped(hf_model)
        # transformers 5 renames the KV cache argument and output `past_key_values` -> `cache` (from 5.2x).
        forward_params = inspect.signature(self._plain.forward).parameters
        self._cache_name = "cache" if "cache" in forward_params else "past_key_values"
        # Sampling reads the last position's logits only: over a vocabulary of 50k, the logits of a
        # whole prompt cost more than the forward that feeds them.
        self._last_logits_only: dict[str, int] = {"logits_to_keep": 1} if "logits_to_keep" in forward_params else {}
        self.tokenizer = tokenizer
        self.max_batch_tokens = max_batch_tokens
        """Tokens per forward of `activations`; None: 4,096 on the CPU, from free memory on a GPU."""
        bos_id = tokenizer.bos_token_id
        self._bos_id: int | None = bos_id if prepend_bos and bos_id is not None else None
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._pad_id: int = int(pad_id if pad_id is not None else 0)
        weight = hf_model.get_input_embeddings().weight
        self.device: torch.device = weight.device
        cfg = bridge.cfg
        self._info = SubjectInfo(
            model_id=model_id,
            n_layers=int(cfg.n_layers),
            d_mlp=int(cfg.d_mlp),
            vocab_size=int(cfg.d_vocab),
            prepend_bos=self._bos_id is not None,
            bos_token=tokenizer.bos_token if self._bos_id is not None else None,
            tokenizer_sha256=tokenizer_fingerprint(tokenizer),
            device=str(self.device),
            dtype=str(weight.dtype).removeprefix("torch."),
        )
        self._dtype_bytes = weight.element_size()
        self._pieces: dict[int, str] = {}
        self._d_model, self._n_heads = int(cfg.d_model), int(cfg.n_heads)

    @property
    def info(self) -> SubjectInfo:
        return self._info

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        return tokenize_texts(self.tokenizer, texts, self.token_strings)

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        # A lone id decodes the same wherever it stands, so each is decoded once per process: probe texts
        # of a sweep repeat the same few thousand ids, and every decode call goes through the tokenizer's Python.
        pieces = self._pieces
        for i in ids:
            if i not in pieces:
                pieces[int(i)] = self.tokenizer.decode([int(i)])
        return [pieces[i] for i in ids]

    def batch_size(self, seq_len: int, kept_neurons: int) -> int:
        """Sequences of `seq_len` tokens per forward: 32 on the CPU, else what half the free memory holds."""
        free = free_memory(str(self.device))
        if free is None:
            return DEFAULT_CPU_BATCH
        offset = 1 if self._bos_id is not None else 0
        need = forward_bytes_per_sequence(seq_len + offset, self._d_model, self.info.d_mlp, self._n_heads,
                                          self._dtype_bytes, kept_neurons)
        return batch_size_for_memory(free, need)

    def _batch_tokens(self, longest: int, kept_neurons: int) -> int:
        if self.max_batch_tokens is not None:
            return self.max_batch_tokens
        if self.device.type == "cpu":
            return DEFAULT_CPU_BATCH_TOKENS
        return self.batch_size(longest, kept_neurons) * (longest + 1)

    def activations(
        self, sequences: Sequence[Sequence[int]], layer: int, neurons: Sequence[int] | None = None
    ) -> list[np.ndarray]:
        check_layer(self.info, layer)
        if neurons is not None:
            check_neurons(self.info, neurons)
        kept = len(neurons) if neurons is not None else self.info.d_mlp
        out: list[np.ndarray | None] = [None] * len(sequences)
        # Sorted by length, a forward holds sequences of one padded width (see PAD_MULTIPLE).
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        limit = self._batch_tokens(len(sequences[order[-1]]), kept) if order else 0
        start = 0
        while start < len(order):
            width = self._padded_width(len(sequences[order[start]]))
            end = start + 1
            while (end < len(order) and self._padded_width(len(sequences[order[end]])) == width
                   and (end + 1 - start) * width <= limit):
                end += 1
            chunk = order[start:end]
            for i, values in zip(chunk, self._ragged_forward([sequences[i] for i in chunk], width, layer, neurons), strict=True):
                out[i] = values
            start = end
        return [v for v in out if v is not None]

    def _padded_width(self, length: int) -> int:
        """Positions a sequence of `length` tokens runs padded to, its BOS included."""
        return -(-(length + (1 if self._bos_id is not None else 0)) // PAD_MULTIPLE) * PAD_MULTIPLE

    def activations_tensor(self, ids: np.ndarray, layer: int, neurons: Sequence[int] | None = None) -> torch.Tensor:
        """Activations of equal-length sequences `ids` (b, T): float32 (b, T, n_neurons) on the subject's device.

        No padding and no mask: every position is a real token. The caller checks layer and neurons.
        """
        post = self._forward(self._equal_length_batch(ids), None, {layer: neurons})[layer]
        return post[:, 1:] if self._bos_id is not None else post

    def activations_at_layers(self, ids: np.ndarray, wanted: Mapping[int, Sequence[int]]) -> dict[int, np.ndarray]:
        """Activations of equal-length sequences `ids` (b, T) at several layers from one forward (up to the
        deepest): {layer: float32 (b, T, len(neurons))}. A pass over a corpus for many layers costs one
        forward instead of one per layer."""
        for layer, neurons in wanted.items():
            check_layer(self.info, layer)
            check_neurons(self.info, neurons)
        offset = 1 if self._bos_id is not None else 0
        posts = self._forward(self._equal_length_batch(ids), None, wanted)
        return {layer: np.ascontiguousarray(post[:, offset:].cpu().numpy()) for layer, post in posts.items()}

    def _equal_length_batch(self, ids: np.ndarray) -> torch.Tensor:
        """`ids` (b, T) with BOS in front where the model has one, on the device."""
        batch = torch.tensor(np.asarray(ids), dtype=torch.long)  # a copy: the corpus array may be read-only
        if self._bos_id is not None:
            batch = torch.cat([torch.full((batch.shape[0], 1), self._bos_id, dtype=torch.long), batch], dim=1)
        if self.device.type == "cuda":
            # From pinned memory the copy is queued behind the work already on the GPU, instead of
            # making the host wait for that work to finish first.
            batch = batch.pin_memory()
        return batch.to(self.device, non_blocking=True)

    def _ragged_forward(self, sequences: list[Sequence[int]], width: int, layer: int, neurons: Sequence[int] | None) -> list[np.ndarray]:
        offset = 1 if self._bos_id is not None else 0
        ids = torch.full((len(sequences), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            if self._bos_id is not None:
                ids[row, 0] = self._bos_id
            ids[row, offset : offset + len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
            mask[row, : offset + len(seq)] = 1
        post = self._forward(ids.to(self.device), mask.to(self.device), {layer: neurons})[layer].cpu().numpy()
        return [np.ascontiguousarray(post[row, offset : offset + len(seq)]) for row, seq in enumerate(sequences)]

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor | None,
                 wanted: Mapping[int, Sequence[int] | None]) -> dict[int, torch.Tensor]:
        """`blocks.{layer}.mlp.hook_post` of each wanted layer (its neurons, or all of them for None) for
        every position of `ids`, float32 on the device, from one forward stopped after the deepest layer."""
        captured: dict[int, torch.Tensor] = {}

        def keeper(layer: int, neurons: Sequence[int] | None) -> Callable[[torch.Tensor, Any], None]:
            index = torch.as_tensor(list(neurons), dtype=torch.long, device=self.device) if neurons is not None else None

            def keep(act: torch.Tensor, hook: Any) -> None:
                captured[layer] = act if index is None else act.index_select(-1, index)
            return keep

        hooks = [(f"blocks.{layer}.mlp.hook_post", keeper(layer, neurons)) for layer, neurons in wanted.items()]
        with torch.inference_mode():
            self.bridge.run_with_hooks(ids, fwd_hooks=hooks, stop_at_layer=max(wanted) + 1, attention_mask=mask)
        return {layer: post.float() for layer, post in captured.items()}

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float,
                 seeds: Sequence[int]) -> list[list[int]]:
        """A sampled continuation of each prompt, all decoded together (one forward per new token).

        Each prompt draws from its own generator seeded with its seed, so its continuation does not
        depend on the prompts sampled beside it. Prompts are left-padded, positions count real tokens
        only; a row stops after an end-of-text token (kept, as `generate` of Hugging Face keeps it)."""
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        if not prompts:
            return []
        prefix = [self._bos_id] if self._bos_id is not None else []
        rows = [prefix + list(p) for p in prompts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[self._pad_id] * (width - len(r)) + r for r in rows], dtype=torch.long, device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long, device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        generators = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]
        eos = self.hf_model.generation_config.eos_token_id
        stops = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        new: list[list[int]] = [[] for _ in rows]
        cache = None
        with torch.inference_mode(), one_cpu_thread(self.device):
            for _ in range(max_new_tokens):
                # The plain model, with its KV cache: the bridge does not keep one.
                out = self._plain(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                                  **{self._cache_name: cache}, **self._last_logits_only)
                cache = getattr(out, self._cache_name)
                logits = out.logits[:, -1].float()
                if temperature > 0:
                    probs = (logits / temperature).softmax(-1)
                    drawn = [torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(generators)]
                    chosen = torch.cat(drawn)
                else:
                    chosen = logits.argmax(-1)
                for row, token in enumerate(chosen.tolist()):
                    if not new[row] or new[row][-1] not in stops:
                        new[row].append(token)
                if all(r and r[-1] in stops for r in new):
                    break
                ids = chosen.view(-1, 1)
                mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
                positions = positions[:, -1:] + 1
        return new

    def output_side(self, layer: int, neuron: int, sequences: Sequence[Sequence[int]]) -> OutputSide:
        check_layer(self.info, layer)
        check_neurons(self.info, [neuron])

        def run(ids: torch.Tensor, mask: torch.Tensor, hooks: list[tuple[str, Any]]) -> torch.Tensor:
            logits: torch.Tensor = self.bridge.run_with_hooks(ids, fwd_hooks=hooks, attention_mask=mask)
            return logits

        # Small forwards: on a busy CPU torch's parallel operations wait for descheduled threads (see one_cpu_thread).
        with torch.inference_mode(), one_cpu_thread(self.device):
            return read_output_side(self._plain, run, sequences, self._bos_id, self._pad_id, layer, neuron, self.token_strings)

    def token_embeddings(self) -> np.ndarray:
        """The input embedding matrix, shape (vocab, d_model), float32."""
        matrix: np.ndarray = self.hf_model.get_input_embeddings().weight.detach().float().cpu().numpy()
        return matrix

    def next_token_distribution(self, text: str) -> list[tuple[str, float]]:
        """Top next tokens and probabilities after `text` (full forward with logits; sanity checks)."""
        ids = self.tokenize([text])[0].ids
        prefix = [self._bos_id] if self._bos_id is not None else []
        with torch.inference_mode():
            logits = self.bridge(torch.as_tensor([prefix + ids], device=self.device))[0, -1]
        probs = logits.float().softmax(-1)
        top = probs.topk(5)
        return [(self.tokenizer.decode([int(i)]), float(p)) for p, i in zip(top.values, top.indices, strict=True)]
