"""Serves one `LlamaEngine` to many request threads: generations decoded together, scorings alone.

Every engine call happens on the scheduler's own thread. Requests queue in arrival order:
- a generation joins the streams in flight as soon as there is a free sequence and cache room for
  its prompt and its longest answer (continuous batching: it need not wait for the others to end),
  and its caller gets the answer the moment its stream finishes; prompts are evaluated one after
  another, each sharing the cached prefix of the one before, while the answers decode together;
- any other work (prompt scoring, which uses sequence 0 and the split-"10" sequences) waits until
  no stream is in flight, and holds back the requests behind it, so it cannot wait forever.
A failed decode fails every stream in flight with the engine's error; the next requests start on an
empty cache.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import structlog

from tools.llm.llama_engine import Generation, GenerationRequest, LlamaEngine, Stream

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(eq=False)
class _Job:
    future: Future[Any]
    request: GenerationRequest | None = None
    work: Callable[[LlamaEngine], Any] | None = None


class Scheduler:
    """See the module docstring. `max_streams` caps the generations decoded together."""

    def __init__(self, engine: LlamaEngine, max_streams: int) -> None:
        if max_streams < 1:
            raise ValueError("max_streams must be at least 1")
        self.engine = engine
        self.max_streams = max_streams
        self._jobs: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self.peak_streams = 0
        """The most streams decoded together so far."""
        self._thread = threading.Thread(target=self._run, name="llama-scheduler", daemon=True)
        self._thread.start()

    def generate(self, request: GenerationRequest) -> Generation:
        """Block until `request` is answered; raises the engine's error if it fails."""
        result: Generation = self._submit(_Job(Future(), request=request)).result()
        return result

    def exclusive(self, work: Callable[[LlamaEngine], T]) -> T:
        """Run `work` on the engine with no stream in flight; block until it returns."""
        result: T = self._submit(_Job(Future(), work=work)).result()
        return result

    def close(self) -> None:
        """Stop after the work in flight; queued jobs fail."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join()

    def _submit(self, job: _Job) -> Future[Any]:
        with self._ready:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            self._jobs.append(job)
            self._ready.notify()
        return job.future

    def _run(self) -> None:
        streams: dict[Stream, _Job] = {}
        while True:
            with self._ready:
                while not self._jobs and not streams and not self._closed:
                    self._ready.wait()
                if self._closed and not streams:
                    for job in self._jobs:
                        job.future.set_exception(RuntimeError("the scheduler is closed"))
                    return
                self._admit(streams)
                alone = self._jobs.popleft() if not streams and self._jobs and self._jobs[0].work else None
            if alone is not None and alone.work is not None:
                self._settle(alone, partial(alone.work, self.engine))
            elif streams:
                self._step(streams)

    def _admit(self, streams: dict[Stream, _Job]) -> None:
        """Open streams for the generations at the head of the queue while they fit (lock held)."""
        engine = self.engine
        while self._jobs and len(streams) < self.max_streams:
            job = self._jobs[0]
            # One prompt evaluates at a time: a prompt's evaluation is arithmetic-bound, so two
            # together gain nothing, and the next one then reuses this one's cached prefix (the
            # instructions every simulator request shares) instead of evaluating it again.
            if job.request is None or any(s.pending > 1 for s in streams):
                return
            used = {s.sequence for s in streams}
            sequence = next(i for i in range(1, self.max_streams + 1) if i not in used)
            try:
                stream = engine.open(job.request, sequence)
            except Exception as err:  # noqa: BLE001 -- the caller gets it, the scheduler goes on
                self._jobs.popleft()
                job.future.set_exception(err)
                continue
            # Counting every stream's whole prompt and answer over-counts shared cells, never under.
            if engine.cached_tokens + sum(s.cells for s in streams) + stream.cells > engine.n_ctx:
                if streams:
                    engine.release(stream)
                    return
                engine.clear()  # alone it always fits once sequence 0 lets go of its prefix
            self._jobs.popleft()
            streams[stream] = job
            self.peak_streams = max(self.peak_streams, len(streams))
            if stream.finish is not None:
                self._finish(streams, stream)

    def _step(self, streams: dict[Stream, _Job]) -> None:
        try:
            self.engine.step(list(streams))
        except Exception as err:  # noqa: BLE001 -- every stream in flight fails with it; the server goes on
            log.warning("decode_failed", streams=len(streams), error=str(err))
            for stream, job in streams.items():
                self.engine.release(stream)
                job.future.set_exception(err)
            streams.clear()
            self.engine.clear_all()
            return
        for stream in [s for s in streams if s.finish is not None]:
            self._finish(streams, stream)

    def _finish(self, streams: dict[Stream, _Job], stream: Stream) -> None:
        job = streams.pop(stream)
        self.engine.release(stream)
        self._settle(job, lambda: stream.result(self.engine))

    @staticmethod
    def _settle(job: _Job, compute: Callable[[], Any]) -> None:
        try:
            job.future.set_result(compute())
        except Exception as err:  # noqa: BLE001 -- the caller's thread raises it
            job.future.set_exception(err)
