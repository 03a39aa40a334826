"""The subject seam on tiny random models (Llama- and GPT-2-shaped), offline, through the real bridge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tools.errors import AssetMissingError, BadInputError
from tools.subject.base import SubjectModel, TextGenerator
from tools.subject.bridge import BridgeSubject
from tools.subject.registry import load_subject


def test_tokenize_keeps_ids_and_pieces_with_spaces(tiny_subject: BridgeSubject) -> None:
    [tok] = tiny_subject.tokenize(["The value of x is returned."])
    assert len(tok.ids) == len(tok.tokens) > 3
    assert "".join(tok.tokens) == "The value of x is returned."
    assert any(piece.startswith(" ") for piece in tok.tokens)
    assert tiny_subject.info.bos_token is not None
    assert tiny_subject.tokenizer.bos_token_id not in tok.ids, "tokenize() must not add BOS"


def test_satisfies_the_protocols(tiny_subject: BridgeSubject) -> None:
    assert isinstance(tiny_subject, SubjectModel)
    assert isinstance(tiny_subject, TextGenerator)


def test_padding_never_leaks(tiny_subject: BridgeSubject) -> None:
    short, long = tiny_subject.tokenize(["A short one.", "A much longer sentence that needs many more tokens than the other one."])
    alone = tiny_subject.activations([short.ids], 2)[0]
    batched = tiny_subject.activations([long.ids, short.ids], 2)
    assert batched[1].shape == (len(short.ids), tiny_subject.info.d_mlp)
    assert batched[0].shape == (len(long.ids), tiny_subject.info.d_mlp)
    np.testing.assert_allclose(batched[1], alone, atol=1e-5)
    # Maxima come only from real tokens: the padded tail of the short row is not in its output at all.
    assert batched[1].max(axis=0).tolist() == pytest.approx(alone.max(axis=0).tolist(), abs=1e-5)


def test_bos_is_prepended_but_not_returned(tiny_subject: BridgeSubject) -> None:
    [tok] = tiny_subject.tokenize(["print the value"])
    with_bos = tiny_subject.activations([tok.ids], 0, [0, 1])[0]
    assert with_bos.shape == (len(tok.ids), 2)
    # Running the same ids with an explicit BOS and no automatic one gives the same numbers.
    no_auto = BridgeSubject(tiny_subject.bridge, tiny_subject.hf_model, tiny_subject.tokenizer, "tiny-llama", prepend_bos=False)
    explicit = no_auto.activations([[tiny_subject.tokenizer.bos_token_id, *tok.ids]], 0, [0, 1])[0]
    np.testing.assert_allclose(explicit[1:], with_bos, atol=1e-5)


def test_neuron_selection_matches_full_layer(tiny_subject: BridgeSubject) -> None:
    [tok] = tiny_subject.tokenize(["for item in sequence: pass"])
    full = tiny_subject.activations([tok.ids], 3)[0]
    some = tiny_subject.activations([tok.ids], 3, [5, 1, 100])[0]
    np.testing.assert_array_equal(some, full[:, [5, 1, 100]])


def test_one_forward_reads_several_layers_as_each_layer_alone(tiny_subject: BridgeSubject) -> None:
    ids = np.asarray([tok.ids[:6] for tok in tiny_subject.tokenize(["The value of x is returned here.", "Another text, of six or more tokens."])])
    wanted = {0: [3, 1], 2: [0, 5, 7]}
    together = tiny_subject.activations_at_layers(ids, wanted)
    assert sorted(together) == [0, 2]
    for layer, neurons in wanted.items():
        alone = tiny_subject.activations(ids.tolist(), layer, neurons)
        assert together[layer].shape == (2, 6, len(neurons))
        np.testing.assert_allclose(together[layer], np.stack(alone), atol=1e-5)
    with pytest.raises(BadInputError):
        tiny_subject.activations_at_layers(ids, {tiny_subject.info.n_layers: [0]})


def test_reads_hook_post_and_stops_at_the_layer(tiny_subject: BridgeSubject) -> None:
    import torch

    [tok] = tiny_subject.tokenize(["while True: break"])
    ids = torch.as_tensor([[tiny_subject.tokenizer.bos_token_id, *tok.ids]])
    seen: list[str] = []
    for i in range(tiny_subject.info.n_layers):
        tiny_subject.bridge.blocks[i].register_forward_hook(lambda module, args, out, i=i: seen.append(f"block{i}"))
    try:
        with torch.inference_mode():
            _, cache = tiny_subject.bridge.run_with_cache(ids, names_filter="blocks.1.mlp.hook_post")
        seen.clear()
        ours = tiny_subject.activations([tok.ids], 1)[0]
    finally:
        for block in tiny_subject.bridge.blocks:
            block._forward_hooks.clear()
    np.testing.assert_allclose(ours, cache["blocks.1.mlp.hook_post"][0, 1:].numpy(), atol=1e-6)
    assert seen == ["block0", "block1"], "layers after the requested one must not run"


@pytest.mark.parametrize(("layer", "message"), [(4, "valid layers are 0-3"), (-1, "valid layers are 0-3")])
def test_bad_layer_says_the_valid_range(tiny_subject: BridgeSubject, layer: int, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        tiny_subject.activations([[1, 2, 3]], layer)


def test_bad_neuron_says_the_valid_range(tiny_subject: BridgeSubject) -> None:
    with pytest.raises(BadInputError, match="valid neurons are 0-127"):
        tiny_subject.activations([[1, 2, 3]], 0, [3, 128])


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(BadInputError, match="smollm2-135m, gpt2"):
        load_subject("llama-70b")


def test_gpt2_missing_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-home" / "hub"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-home" / "hub"))
    with pytest.raises(AssetMissingError, match="--model-path DIR"):
        load_subject("gpt2")


def test_smollm2_not_set_up_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AssetMissingError, match="refinery setup"):
        load_subject("smollm2-135m", cache_dir=tmp_path)


def test_gpt2_code_path_from_a_local_directory(tmp_path: Path) -> None:
    """A random GPT-2-shaped model saved to disk loads through `--model gpt2 --model-path DIR`."""
    from tools.subject.tiny import tiny_hf_model, tiny_tokenizer

    tiny_hf_model("tiny-gpt2").save_pretrained(tmp_path)
    tiny_tokenizer().save_pretrained(tmp_path)
    subject = load_subject("gpt2", model_path=tmp_path)
    assert subject.info.model_id == "gpt2" and subject.info.n_layers == 4 and subject.info.d_mlp == 128
    [tok] = subject.tokenize(["return None"])
    assert subject.activations([tok.ids], 3)[0].shape == (len(tok.ids), 128)


def test_model_path_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AssetMissingError, match="no config.json"):
        load_subject("gpt2", model_path=tmp_path)


def test_generate_is_seeded(tiny_subject: BridgeSubject) -> None:
    [tok] = tiny_subject.tokenize(["The function"])
    [a] = tiny_subject.generate([tok.ids], 8, 1.0, seeds=[3])
    [b] = tiny_subject.generate([tok.ids], 8, 1.0, seeds=[3])
    assert a == b and len(a) == 8


def _reference_sample(subject: BridgeSubject, prompt_ids: list[int], max_new_tokens: int, temperature: float, seed: int) -> list[int]:
    """Sampling spelled out: a full forward through the bridge per new token (no cache), the same draws."""
    import torch

    ids = [subject.tokenizer.bos_token_id, *prompt_ids]
    eos = subject.hf_model.generation_config.eos_token_id
    new: list[int] = []
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        while len(new) < max_new_tokens and (not new or new[-1] != eos):
            logits = subject.bridge(torch.as_tensor([ids + new]))[0, -1]
            new.append(int(torch.multinomial((logits / temperature).softmax(-1), 1)))
    return new


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_generate_samples_the_model_given_the_whole_text(name: str) -> None:
    """Sampled ids are the model's own draws given all earlier tokens: the transformer-lens 4.3 bridge
    ignored the KV cache, so sampling through it saw only the newest token."""
    subject = load_subject(name)
    prompts = [t.ids for t in subject.tokenize(["The function", "for item in sequence:", "Return the value of x"])]
    for i, prompt in enumerate(prompts):
        for seed, temperature in [(0, 1.0), (3, 1.0), (17, 0.7)]:
            expected = _reference_sample(subject, prompt, 12, temperature, seed)
            assert subject.generate([prompt], 12, temperature, [seed]) == [expected], (i, seed, temperature)


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_a_sequence_s_values_are_the_same_bits_whatever_it_is_batched_with(name: str) -> None:
    """A sweep merges neurons' requests into one forward: were a sequence's values to change in their
    last bits with its neighbours, a resumed run could decide differently from an uninterrupted one."""
    subject = load_subject(name)
    texts = ["x", "A short one.", "for item in sequence: print(item)",
             "A much longer sentence that needs many more tokens than the others, in several padded widths."]
    ids = [t.ids for t in subject.tokenize(texts)]
    assert len({len(i) for i in ids}) == 4
    for i, sequence in enumerate(ids):
        alone = subject.activations([sequence], 1)[0]
        np.testing.assert_array_equal(subject.activations(ids, 1)[i], alone)
        np.testing.assert_array_equal(subject.activations([ids[-1], sequence], 1, [3, 7])[1], alone[:, [3, 7]])


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_prompts_sampled_together_get_what_each_gets_alone(name: str) -> None:
    """Left padding, positions and per-prompt generators: a batch changes no prompt's continuation."""
    subject = load_subject(name)
    prompts = [t.ids for t in subject.tokenize(["The function", "for item in sequence:", "x"])]
    assert len({len(p) for p in prompts}) == 3
    for temperature in (1.0, 0.0):
        seeds = [5, 6, 7]
        alone = [subject.generate([p], 10, temperature, [s])[0] for p, s in zip(prompts, seeds, strict=True)]
        assert subject.generate(prompts, 10, temperature, seeds) == alone
    with pytest.raises(ValueError, match="3 prompts but 2 seeds"):
        subject.generate(prompts, 4, 1.0, [1, 2])


@pytest.mark.model
def test_smollm2_is_sane_and_reads_its_neurons(smollm2_subject: BridgeSubject) -> None:
    top = smollm2_subject.next_token_distribution("The capital of France is")
    assert top[0][0] == " Paris"
    info = smollm2_subject.info
    assert (info.n_layers, info.d_mlp, info.vocab_size) == (30, 1536, 49152)
    [tok] = smollm2_subject.tokenize(["Hello world, this is a test."])
    acts = smollm2_subject.activations([tok.ids], 15, [0, 7])[0]
    assert acts.shape == (len(tok.ids), 2) and np.isfinite(acts).all()
