"""Probe texts go through the real subject and the simulator at the same time."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from tests.support.subjects import PlainSubject
from tools.probes.runner import run_probes
from tools.probes.types import ProbeText
from tools.simulators.base import RecordSimulation
from tools.subject.base import SubjectModel
from tools.subject.registry import load_subject
from tools.subject.service import ActivationService

WAIT_S = 30.0  # a guard against a deadlock, not a speed limit: concurrent, the wait ends at once


class HeldForward(PlainSubject):
    """The real subject, whose forward waits until the simulator has been asked: run one after the
    other, the forward would wait for a question that comes only after it."""

    def __init__(self, inner: SubjectModel, asked: threading.Event) -> None:
        super().__init__(inner)
        self.asked = asked

    def activations(self, sequences: Sequence[Sequence[int]], layer: int, neurons: Sequence[int] | None = None) -> list[np.ndarray]:
        if not self.asked.wait(WAIT_S):
            raise AssertionError("the forward ran alone: the simulator was not asked while it ran")
        return super().activations(sequences, layer, neurons)


class AskedFlag:
    """The simulator (the LLM's side, the true edge): flat predictions, and it says when it is asked."""

    method = "flat"

    def __init__(self, asked: threading.Event) -> None:
        self.asked = asked

    async def simulate(self, explanation: str, records: Sequence[Sequence[str]]) -> list[RecordSimulation]:
        self.asked.set()
        return [RecordSimulation(method=self.method, tokens=list(r), expected=[1.0] * len(r)) for r in records]


async def test_the_forward_runs_while_the_simulator_is_asked() -> None:
    subject = load_subject("tiny-llama")
    asked = threading.Event()
    [tok] = subject.tokenize(["def object(self): return None"])
    probes = [ProbeText(generator="builtin-insert", text=tok.text, token_ids=tok.ids, tokens=tok.tokens)]
    [result] = await run_probes(probes, ActivationService(HeldForward(subject, asked)), 0, 5, AskedFlag(asked), "x")
    expected = subject.activations([tok.ids], 0, [5])[0][:, 0]
    np.testing.assert_allclose(result.real, expected, atol=1e-5)
    assert result.predicted == [1.0] * len(tok.ids)
