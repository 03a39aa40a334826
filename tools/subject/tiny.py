"""Tiny random subjects for tests: built from a config in memory, no files, no Hub.

`tiny-llama` has SmolLM2's architecture (Llama, gated MLP), `tiny-gpt2` GPT-2's, so the unit tier
exercises the same bridge code paths as the real models in about a second. The tokenizer is a
byte-level BPE trained at construction on Python's own documentation text, which is always present.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

TINY_MODELS = ("tiny-llama", "tiny-gpt2")
TINY_VOCAB = 2048
TINY_LAYERS = 4
TINY_D_MODEL = 64
TINY_D_MLP = 128


@functools.cache
def _bpe_definition() -> str:
    from pydoc_data.topics import topics

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB,
        special_tokens=["<|bos|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([topics[key] for key in sorted(topics)], trainer)
    return bpe.to_str()


def tiny_tokenizer() -> Any:
    """A fresh byte-level BPE tokenizer (BOS `<|bos|>`, pad `<|pad|>`), identical on every machine."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_bpe_definition()),
        bos_token="<|bos|>",
        eos_token="<|bos|>",
        pad_token="<|pad|>",
        add_bos_token=True,
    )
    # transformer-lens re-derives a BOS-adding tokenizer from `name_or_path` unless it is set.
    tokenizer.init_kwargs["name_or_path"] = "tiny-bpe"
    return tokenizer


def tiny_hf_model(name: str, seed: int = 0) -> Any:
    """A randomly initialized HF causal LM of the named tiny architecture (deterministic for a seed)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "tiny-llama":
            llama = LlamaConfig(
                vocab_size=TINY_VOCAB, hidden_size=TINY_D_MODEL, intermediate_size=TINY_D_MLP,
                num_hidden_layers=TINY_LAYERS, num_attention_heads=4, num_key_value_heads=2,
                max_position_embeddings=512, tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=1,
            )
            model: PreTrainedModel = LlamaForCausalLM(llama)
        elif name == "tiny-gpt2":
            gpt2 = GPT2Config(
                vocab_size=TINY_VOCAB, n_embd=TINY_D_MODEL, n_inner=TINY_D_MLP, n_layer=TINY_LAYERS, n_head=4,
                n_positions=512, bos_token_id=0, eos_token_id=0, pad_token_id=1,
            )
            model = GPT2LMHeadModel(gpt2)
        else:
            raise ValueError(f"unknown tiny model {name!r}")
    return model.eval()
