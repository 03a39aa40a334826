"""The subject in a child process (`--subject-process`) answers exactly as the subject in this process,
and every way the child can go wrong is an error that names it, never a hang or a silent difference."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from functools import partial

import numpy as np
import pytest

from tools.errors import BadInputError, SharedResourceLost
from tools.subject.base import SubjectModel
from tools.subject.bridge import BridgeSubject
from tools.subject.loading import boot
from tools.subject.process import SubjectProcess, SubjectProcessError
from tools.subject.registry import load_subject
from tools.subject.tiny import tiny_hf_model, tiny_tokenizer

TEXTS = ["def area(radius):", "return None", "for item in sequence:"]


def reseeded_tiny_llama() -> SubjectModel:
    """tiny-llama by name and shape, other weights: what a model dir rewritten between two loads looks like."""
    return boot(tiny_hf_model("tiny-llama", seed=1), tiny_tokenizer(), "tiny-llama", "cpu", "float32")


@pytest.fixture(scope="module")
def child(tiny_subject: BridgeSubject) -> Iterator[SubjectProcess]:
    process = SubjectProcess(tiny_subject, partial(load_subject, "tiny-llama"))
    process.wait_ready()
    yield process
    process.close()


def test_the_child_computes_what_this_process_computes(child: SubjectProcess, tiny_subject: BridgeSubject) -> None:
    ids = [t.ids for t in child.tokenize(TEXTS)]
    assert child.info == tiny_subject.info
    for mine, theirs in zip(tiny_subject.activations(ids, 2, [5, 9]), child.activations(ids, 2, [5, 9]), strict=True):
        np.testing.assert_array_equal(theirs, mine)
    [whole] = child.activations(ids[:1], 1)
    assert whole.shape == (len(ids[0]), tiny_subject.info.d_mlp)
    assert child.generate(ids, 6, 1.0, [3, 4, 5]) == tiny_subject.generate(ids, 6, 1.0, [3, 4, 5])
    # The output side too (`--subject-process` with the output side on): the same numbers, seconds aside.
    side = child.output_side(1, 5, ids)
    assert side.model_dump(exclude={"seconds"}) == tiny_subject.output_side(1, 5, ids).model_dump(exclude={"seconds"})


def test_an_error_in_the_child_reaches_the_caller_as_itself_and_the_child_serves_on(child: SubjectProcess) -> None:
    [ids] = [t.ids for t in child.tokenize(["x = 1"])]
    with pytest.raises(BadInputError, match="neuron index 100000 is out of range"):
        child.activations([ids], 1, [100_000])
    assert child.activations([ids], 1, [0])[0].shape == (len(ids), 1)


def test_a_killed_child_is_an_error_that_names_it(tiny_subject: BridgeSubject) -> None:
    process = SubjectProcess(tiny_subject, partial(load_subject, "tiny-llama"))
    try:
        process.wait_ready()
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        with pytest.raises(SubjectProcessError, match=rf"subject process \(pid {process.pid}\) exited with code -9 while running activations"):
            process.activations([[1, 2, 3]], 0, [0])
    finally:
        process.close()


@pytest.mark.parametrize(("load", "reason"), [
    (partial(load_subject, "no-such-model"), "could not load the model: unknown model 'no-such-model'"),
    (partial(load_subject, "tiny-gpt2"), "loaded a different model"),
    (reseeded_tiny_llama, "computes different activations"),
], ids=["load-fails", "other-model", "other-weights"])
def test_a_child_that_is_not_this_process_s_subject_refuses_to_serve(tiny_subject: BridgeSubject, load: partial[SubjectModel],
                                                                      reason: str) -> None:
    process = SubjectProcess(tiny_subject, load)
    try:
        with pytest.raises(SubjectProcessError, match=reason) as caught:
            process.wait_ready()
        assert isinstance(caught.value, SharedResourceLost)  # a sweep stops on it, resumable
    finally:
        process.close()
