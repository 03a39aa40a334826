"""A subject whose forwards and sampling run in a child process.

A sweep runs many neurons on one event loop. The subject's forwards and decoding loops run in a
worker thread, but much of them is Python (the model's modules, the bridge's hooks, sampling) that
holds the interpreter lock: with many neurons in flight, that time is taken from the event loop and
the sweep is bound by one core. In a child process the same work runs on another core. The parent
keeps its own copy of the subject for everything cheap (tokenizing, token strings, its identity) and
for building records; the child holds a second copy of the weights and serves `activations`,
`generate` and `output_side`, one call at a time, over a pipe.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import torch

from tools.errors import SharedResourceLost
from tools.subject.base import SubjectInfo, SubjectModel, TokenizedText
from tools.subject.output_side import OutputSide

_POLL_S = 0.5
_STOP_GRACE_S = 5.0


class SubjectProcessError(SharedResourceLost):
    """The subject's child process could not start, or exited while it was needed."""


def _portable(err: BaseException) -> BaseException:
    """`err` if it survives pickling (so the parent re-raises the same type), else its text."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")
    return err


def _serve(conn: Connection, load: Callable[[], SubjectModel]) -> None:
    """The child: load the subject, then answer (method, args) messages until None or the parent is gone."""
    # Ctrl-C reaches the whole process group; the parent decides what happens, and closing its end ends this loop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One core stays with the parent, whose event loop drives every neuron: a child's torch on every
    # core would take CPU the neurons in flight wait for (bench/sweep measures the rate).
    torch.set_num_threads(max(1, torch.get_num_threads() - 1))
    try:
        subject = load()
    except BaseException as err:
        conn.send(("error", _portable(err)))
        return
    conn.send(("ready", subject.info.model_dump()))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        method, args = message
        try:
            conn.send(("ok", getattr(subject, method)(*args)))
        except Exception as err:
            conn.send(("error", _portable(err)))


class SubjectProcess:
    """`SubjectModel`, `TextGenerator` and `OutputReader`: tokenizing from `local`, forwards and sampling from a child
    process that loads its own copy with `load` (a picklable callable: the child is spawned, not forked,
    so it never inherits the parent's threads or a GPU context). As with any spawned process, a script
    that starts one must guard its entry point with `if __name__ == "__main__":`: the child imports it."""

    def __init__(self, local: SubjectModel, load: Callable[[], SubjectModel]) -> None:
        self._local = local
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, load), name="refinery-subject", daemon=True)
        self._process.start()
        child_end.close()  # so the parent sees EOF when the child exits
        self._lock = threading.Lock()
        self._ready = False

    @property
    def info(self) -> SubjectInfo:
        return self._local.info

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        return self._local.tokenize(texts)

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        return self._local.token_strings(ids)

    def wait_ready(self) -> None:
        """Block until the child has loaded its subject; raise if it failed or differs from the parent's."""
        with self._lock:
            if self._ready:
                return
            kind, value = self._receive("loading the model")
            if kind == "error":
                raise SubjectProcessError(f"the subject process could not load the model: {value}") from value
            theirs, ours = SubjectInfo.model_validate(value), self._local.info
            if theirs != ours:
                raise SubjectProcessError(f"the subject process loaded a different model: {theirs} (this process has {ours})")
            # Same name, same shape: also the same weights? (a model dir rewritten between the two loads, say)
            probe = [list(range(min(8, ours.vocab_size)))]
            kind, value = self._exchange("activations", (probe, 0, None), "checking its weights")
            if kind == "error":
                raise SubjectProcessError(f"the subject process failed its first forward: {value}") from value
            [mine] = self._local.activations(probe, 0)
            if not np.allclose(value[0], mine, rtol=1e-3, atol=1e-3):
                raise SubjectProcessError("the subject process's model computes different activations from this process's: "
                                          "were its weights changed while the command started?")
            self._ready = True

    def activations(self, sequences: Sequence[Sequence[int]], layer: int, neurons: Sequence[int] | None = None) -> list[np.ndarray]:
        result: list[np.ndarray] = self._call("activations", [list(s) for s in sequences], layer,
                                              None if neurons is None else list(neurons))
        return result

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float,
                 seeds: Sequence[int]) -> list[list[int]]:
        result: list[list[int]] = self._call("generate", [list(p) for p in prompts], max_new_tokens, temperature, list(seeds))
        return result

    def output_side(self, layer: int, neuron: int, sequences: Sequence[Sequence[int]]) -> OutputSide:
        """Read in the child: its copy holds the weights and runs the forwards (the subject it loads is a bridge)."""
        result: OutputSide = self._call("output_side", layer, neuron, [list(s) for s in sequences])
        return result

    def close(self) -> None:
        """Ask the child to exit; stop it if it does not within a few seconds."""
        if self._process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send(None)
            self._process.join(_STOP_GRACE_S)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(_STOP_GRACE_S)
        self._conn.close()

    def _call(self, method: str, *args: Any) -> Any:
        if not self._ready:
            self.wait_ready()
        with self._lock:
            kind, value = self._exchange(method, args, f"running {method}")
        if kind == "error":
            raise value
        return value

    def _exchange(self, method: str, args: tuple[Any, ...], doing: str) -> tuple[str, Any]:
        """Send one call to the child and wait for its ("ok" | "error", value); the caller holds the lock."""
        try:
            self._conn.send((method, args))
        except (BrokenPipeError, OSError) as err:
            raise self._gone(doing) from err
        return self._receive(doing)

    def _receive(self, doing: str) -> tuple[str, Any]:
        # Polling, not a bare recv: a child killed before it could reply must not hang the parent.
        while not self._conn.poll(_POLL_S):
            if not self._process.is_alive():
                raise self._gone(doing)
        try:
            message: tuple[str, Any] = self._conn.recv()
        except (EOFError, OSError) as err:  # OSError: a reset pipe (the child killed mid-reply)
            raise self._gone(doing) from err
        return message

    def _gone(self, doing: str) -> SubjectProcessError:
        self._process.join(_POLL_S)
        return SubjectProcessError(
            f"the subject process (pid {self._process.pid}) exited with code {self._process.exitcode} while {doing}; "
            "rerun the command to resume (work done is kept), or run without --subject-process"
        )
