"""A GGUF model in llama.cpp, driven through its public C API: prompt scoring and generation.

One context, used by one thread (the server's scheduler). What makes it fast on a CPU, against
llama-cpp-python's `Llama` with `logits_all`:
- logits are computed only at the positions a request reads (the simulator's placeholders, or the
  last position while generating), so the output layer runs over a few rows instead of every token;
- the KV cache of the previous request is kept, and a new request evaluates only the tokens after
  the prefix it shares with it: a neuron's records share the simulator's instructions, example and
  explanation, and best-of-n explanations share their whole prompt;
- each row becomes logprobs by one log-sum-exp and one partial selection (`local_logprobs`);
- generations run as streams, each on its own sequence of a unified cache that shares the cells of
  the prefix it has in common with sequence 0, and `step` decodes the next token of every stream in
  one batch. On a CPU one token's decode reads all the weights for little arithmetic, so a batch of
  8 costs about 3 times one token, not 8 (bench/local_batch.py measures it).

On a tokenizer that writes "10" as "1" then "0", `score(..., split_ten=True)` also reads
P("0" | the prefix and "1") at each scored slot whose top candidates hold "1", all slots in one extra
batch: each gets its own sequence that shares sequence 0's cached cells up to the slot (a unified
cache adds the sequence to those cells instead of copying them) and holds "1" at the slot. The "1"
candidate's mass is then split into "10" and "1", as the chat-logprob simulator does with what the
model generated.

Needs the `local` extra (llama-cpp-python); imported only by the server process.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp
import numpy as np

from tools.llm.local_logprobs import (
    Logits,
    RowLogprobs,
    common_prefix,
    row_logprobs,
    sample_token,
    token_texts,
    tokens_at_offsets,
)
from tools.science.expected_value import split_ten as split_one

DEFAULT_N_CTX = 8192
N_BATCH = 512


class EngineError(Exception):
    """A request the engine cannot serve (too long for the context, a failed decode); the message says why."""


@dataclass(frozen=True)
class ScoredToken:
    """One prompt token: its text, and its logprob with the top alternatives where they were computed."""

    text: str
    offset: int
    """Character offset of `text` in the concatenation of all token texts."""
    logprob: float | None = None
    """Natural log of P(this token | the tokens before it); None where it was not computed."""
    top: list[tuple[str, float]] | None = None


@dataclass
class Generation:
    text: str
    finish_reason: str
    """"stop" (end-of-generation token) or "length" (hit max_tokens or the context)."""
    prompt_tokens: int
    tokens: list[ScoredToken] = field(default_factory=list)
    """Generated tokens with their logprob; `top` only when asked for."""


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    special: bool
    """Parse control tokens such as <|im_start|> (chat prompts); raw completion prompts never do."""
    max_tokens: int
    temperature: float
    seed: int | None
    top_k: int | None
    """Alternatives to report with each generated token's logprob; None for none."""
    stop: Callable[[str], bool] | None = None
    """Called with the answer so far after each token; True ends it with finish_reason "stop"."""


@dataclass(eq=False)
class Stream:
    """One generation in flight on its own sequence of the cache (see `LlamaEngine.open`)."""

    request: GenerationRequest
    sequence: int
    tokens: list[int]
    """The prompt's tokens, then the generated ones."""
    n_prompt: int
    evaluated: int
    """How many of `tokens` have their keys and values in the cache for this sequence."""
    max_new: int
    rng: np.random.Generator
    finish: str | None = None
    pieces: bytearray = field(default_factory=bytearray)
    scored: list[tuple[float, list[tuple[str, float]] | None]] = field(default_factory=list)
    """Each generated token's logprob and top alternatives."""

    @property
    def pending(self) -> int:
        """Tokens still to evaluate before the next one can be sampled."""
        return len(self.tokens) - self.evaluated

    @property
    def cells(self) -> int:
        """The most cache cells this stream can come to hold."""
        return self.n_prompt + self.max_new

    def result(self, engine: LlamaEngine) -> Generation:
        generated = self.tokens[self.n_prompt:]
        texts = token_texts(engine.piece(t) for t in generated)
        out, offset = [], 0
        for text, (logprob, top) in zip(texts, self.scored, strict=True):
            out.append(ScoredToken(text, offset, logprob, top))
            offset += len(text)
        return Generation("".join(texts), self.finish or "length", self.n_prompt, out)


class LlamaEngine:
    """A loaded GGUF model and its context; see the module docstring."""

    def __init__(self, gguf: Path, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None) -> None:
        llama_cpp.llama_backend_init()
        self.model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), llama_cpp.llama_model_default_params())
        if not self.model:
            raise EngineError(f"llama.cpp could not load {gguf}")
        params = llama_cpp.llama_context_default_params()
        threads = n_threads or os.cpu_count() or 1
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = N_BATCH
        params.n_threads = params.n_threads_batch = threads
        # Flash attention on the CPU rounds through F16 in chunks that depend on how many tokens a
        # batch holds, so a record's logprobs moved by up to 0.2 with the length of the prefix reused
        # from the cache. Without it a token's values are the same bits however the prompt was split.
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        # Sequences 1.. hold the streams being generated, or the "1" of a slot whose "10" is split
        # (see the module docstring); a unified cache lets them share sequence 0's cells and the
        # whole context.
        params.n_seq_max = llama_cpp.llama_max_parallel_sequences()
        params.kv_unified = True
        self.ctx = llama_cpp.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise EngineError(f"llama.cpp could not create a context of {n_ctx} tokens for {gguf}")
        self.n_ctx = llama_cpp.llama_n_ctx(self.ctx)
        self.n_threads = threads
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self._batch = llama_cpp.llama_batch_init(N_BATCH, 0, 1)
        self._cached: list[int] = []
        """Tokens whose keys and values sit in the cache (sequence 0), in order."""
        self._pieces: dict[int, bytes] = {}
        ten = self._tokens_of("10")
        split = [self.token_text(t) for t in ten] == ["1", "0"]
        self.ten_split: tuple[int, int] | None = (ten[0], ten[1]) if split else None
        """The "1" and "0" tokens that write "10", on a tokenizer that has no "10" token; else None."""
        self._split_chunk = llama_cpp.llama_n_seq_max(self.ctx) - 1
        template = llama_cpp.llama_model_chat_template(self.model, None)
        self._chat_template = template or b"chatml"
        self.evaluated_tokens = 0
        """Tokens run through the model so far (prefix reuse makes this less than the tokens asked for)."""

    def close(self) -> None:
        llama_cpp.llama_batch_free(self._batch)
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self.model)

    # --- tokens ---------------------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Token ids of `text`, with BOS when the model wants one; `special` parses control tokens
        such as <|im_start|> (chat prompts), which raw completion prompts never do."""
        data = text.encode()
        room = len(data) + 8
        buffer = (llama_cpp.llama_token * room)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buffer, room, self.add_bos, special)
        if n < 0:
            raise EngineError(f"the prompt needs {-n} tokens, more than the tokenizer was given room for")
        return list(buffer[:n])

    def _tokens_of(self, text: str) -> list[int]:
        """Token ids of a short `text` alone: no BOS, no control tokens."""
        data = text.encode()
        buffer = (llama_cpp.llama_token * 16)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buffer, 16, False, False)
        return list(buffer[:max(n, 0)])

    def piece(self, token: int) -> bytes:
        """The bytes a token writes (control tokens write none)."""
        cached = self._pieces.get(token)
        if cached is None:
            buffer = ctypes.create_string_buffer(64)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, 64, 0, False)
            if n < 0:
                buffer = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, -n, 0, False)
            cached = self._pieces[token] = buffer.raw[:n]
        return cached

    def token_text(self, token: int) -> str:
        return self.piece(token).decode("utf-8", errors="replace")

    def chat_prompt(self, messages: Sequence[tuple[str, str]]) -> str:
        """The model's own chat template (from its GGUF) applied to (role, content) pairs, ready for the answer."""
        array = (llama_cpp.llama_chat_message * len(messages))()
        keep = []  # the C strings must outlive the call
        for slot, (role, content) in zip(array, messages, strict=True):
            keep += [role.encode(), content.encode()]
            slot.role, slot.content = keep[-2], keep[-1]
        size = 2 * sum(len(k) for k in keep) + 256
        for _ in range(2):
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_chat_apply_template(self._chat_template, array, len(messages), True, buffer, size)
            if n < 0:
                raise EngineError("llama.cpp does not know this model's chat template")
            if n <= size:
                return buffer.raw[:n].decode("utf-8", errors="replace")
            size = n
        raise EngineError("the chat template's output did not fit")

    # --- evaluation -----------------------------------------------------------------------------

    def _evaluate(self, tokens: Sequence[int], outputs: Iterable[int]) -> dict[int, Logits]:
        """Logits rows at the positions `outputs` after evaluating `tokens` as the whole sequence.

        The cached prefix shared with the previous call is reused, except from the first output
        position on (its row must be computed now).
        """
        if len(tokens) > self.n_ctx:
            raise EngineError(f"{len(tokens)} tokens do not fit the context of {self.n_ctx}")
        wanted = sorted(set(outputs))
        start = common_prefix(self._cached, tokens)
        start = min(start, wanted[0] if wanted else len(tokens), len(tokens) - 1)
        llama_cpp.llama_memory_seq_rm(self._memory, 0, start, -1)
        del self._cached[start:]
        rows: dict[int, Logits] = {}
        flags = set(wanted)
        batch = self._batch
        for first in range(start, len(tokens), N_BATCH):
            chunk = tokens[first:first + N_BATCH]
            for i, token in enumerate(chunk):
                self._put(i, token, first + i, 0, (first + i) in flags)
            batch.n_tokens = len(chunk)
            code = llama_cpp.llama_decode(self.ctx, batch)
            if code != 0:
                # The cache may hold part of the chunk; forget it all rather than guess.
                self.clear()
                raise EngineError(f"llama.cpp's decode failed (code {code})")
            self._cached.extend(chunk)
            self.evaluated_tokens += len(chunk)
            for i in range(len(chunk)):
                if first + i in flags:
                    pointer = llama_cpp.llama_get_logits_ith(self.ctx, i)
                    rows[first + i] = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()
        return rows

    def _put(self, index: int, token: int, position: int, sequence: int, logits: bool) -> None:
        """Slot `index` of the batch: `token` at `position` of `sequence`, its logits row kept or not."""
        batch = self._batch
        batch.token[index] = token
        batch.pos[index] = position
        batch.n_seq_id[index] = 1
        batch.seq_id[index][0] = sequence
        batch.logits[index] = logits

    def forward(self, prompt: str) -> None:
        """A plain forward of `prompt` from an empty cache, computing the last position's logits only:
        the least any scoring of the prompt can cost (benchmarks compare against it)."""
        self.clear()
        tokens = self.tokenize(prompt, special=False)
        self._evaluate(tokens, [len(tokens) - 1])

    @property
    def cached_tokens(self) -> int:
        """Tokens sequence 0 holds for the next requests to share."""
        return len(self._cached)

    def clear(self) -> None:
        """Forget the cached prefix: the next request evaluates its prompt from the start."""
        llama_cpp.llama_memory_seq_rm(self._memory, 0, 0, -1)
        self._cached.clear()

    def score(
        self, prompt: str, top_k: int, offsets: Iterable[int] | None = None, *, split_ten: bool = False
    ) -> list[ScoredToken]:
        """Every token of `prompt` (as raw text) with its logprob and top `top_k` alternatives.

        With `offsets` (character offsets into `prompt`), only the tokens starting there are scored;
        the others carry no logprob, and no logits row is computed for them. With `split_ten`, on a
        tokenizer without a "10" token, a scored token whose top holds "1" also gets "10" there, with
        log(P("1") * P("0" | "1")), and "1" keeps the rest (see the module docstring).
        """
        tokens = self.tokenize(prompt, special=False)
        texts = token_texts(self.piece(t) for t in tokens)
        scored = set(range(1, len(tokens))) if offsets is None else tokens_at_offsets(prompt, texts, offsets) - {0}
        # The logits row at position i - 1 is the distribution of token i.
        rows = self._evaluate(tokens, (i - 1 for i in scored))
        found = {i: row_logprobs(rows[i - 1], top_k) for i in scored}
        tops = {i: self._top(f) for i, f in found.items()}
        if split_ten and self.ten_split is not None:
            ones = sorted(i for i, top in tops.items() if any(text == "1" for text, _ in top))
            for i, zero in self.zero_after_one(tokens, ones).items():
                tops[i] = sorted(split_one(tops[i], zero), key=lambda alt: -alt[1])
        result, offset = [], 0
        for i, (token, text) in enumerate(zip(tokens, texts, strict=True)):
            entry = ScoredToken(text, offset)
            if i in scored:
                entry = ScoredToken(text, offset, _logprob(rows[i - 1], found[i], token), tops[i])
            result.append(entry)
            offset += len(text)
        return result

    def zero_after_one(self, tokens: Sequence[int], positions: Sequence[int]) -> dict[int, float]:
        """P("0" | tokens[:p] and "1") for each position p, on a tokenizer that splits "10"; `tokens`
        must be what sequence 0 holds (the last `_evaluate`).

        Each position gets a sequence sharing sequence 0's cells [0, p) and holding "1" at p; they are
        decoded together, as many per batch as the context has sequences and free cells for.
        """
        if self.ten_split is None:
            raise EngineError("this tokenizer writes \"10\" as one token; there is nothing to split")
        one, zero = self.ten_split
        room = min(self._split_chunk, self.n_ctx - len(tokens))
        if positions and room < 1:
            raise EngineError(f"no room in the context of {self.n_ctx} to read \"10\" after {len(tokens)} tokens")
        out: dict[int, float] = {}
        batch = self._batch
        for first in range(0, len(positions), room):
            chunk = positions[first:first + room]
            for i, position in enumerate(chunk):
                llama_cpp.llama_memory_seq_cp(self._memory, 0, i + 1, 0, position)
                self._put(i, one, position, i + 1, True)
            batch.n_tokens = len(chunk)
            code = llama_cpp.llama_decode(self.ctx, batch)
            rows = [] if code != 0 else [
                np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, i), shape=(self.n_vocab,)).copy()
                for i in range(len(chunk))
            ]
            for i in range(len(chunk)):
                llama_cpp.llama_memory_seq_rm(self._memory, i + 1, -1, -1)
            if code != 0:
                raise EngineError(f"llama.cpp's decode failed (code {code}) while reading \"10\"")
            self.evaluated_tokens += len(chunk)
            for position, row in zip(chunk, rows, strict=True):
                # exp of a logprob a rounding above 0 must not make split_one take the log of a negative mass.
                out[position] = min(1.0, float(np.exp(_logprob(row, row_logprobs(row, 1), zero))))
        return out

    def generate(
        self,
        prompt: str,
        *,
        special: bool,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        top_k: int | None,
        stop: Callable[[str], bool] | None = None,
    ) -> Generation:
        """Sample up to `max_tokens` tokens after `prompt`; greedy at temperature 0. Logprobs are of the
        model's own distribution (before temperature), with `top_k` alternatives when asked for."""
        stream = self.open(GenerationRequest(prompt, special, max_tokens, temperature, seed, top_k, stop), sequence=1)
        try:
            while stream.finish is None:
                self.step([stream])
        finally:
            self.release(stream)
        return stream.result(self)

    def open(self, request: GenerationRequest, sequence: int) -> Stream:
        """Start `request` on `sequence` (1 .. n_seq_max - 1, not in use): it shares the cells of the
        prefix it has in common with sequence 0's cached prompt, and evaluates only the rest."""
        tokens = self.tokenize(request.prompt, special=request.special)
        room = self.n_ctx - len(tokens)
        if room < 1:
            raise EngineError(f"the prompt has {len(tokens)} tokens; the context holds {self.n_ctx}")
        # At least the last prompt token is evaluated: its logits row gives the first answer token.
        shared = min(common_prefix(self._cached, tokens), len(tokens) - 1)
        llama_cpp.llama_memory_seq_rm(self._memory, sequence, -1, -1)
        if shared:
            llama_cpp.llama_memory_seq_cp(self._memory, 0, sequence, 0, shared)
        stream = Stream(request, sequence, tokens, len(tokens), shared, min(request.max_tokens, room),
                        np.random.default_rng(request.seed))
        if stream.max_new < 1:
            stream.finish = "length"
        return stream

    def step(self, streams: Sequence[Stream]) -> None:
        """One decode over all unfinished `streams`: the next token of each that is answering, then as
        much of the prompts still to evaluate as the batch holds. Each stream whose last token was
        evaluated samples its next one, and may finish."""
        batch, reads = self._batch, []
        n = 0
        # Answering streams go first so that a long prompt entering the batch never stalls them.
        for stream in sorted((s for s in streams if s.finish is None), key=lambda s: s.pending > 1):
            take = min(stream.pending, N_BATCH - n)
            for position in range(stream.evaluated, stream.evaluated + take):
                last = position == len(stream.tokens) - 1
                self._put(n, stream.tokens[position], position, stream.sequence, last)
                if last:
                    reads.append((stream, n))
                n += 1
            stream.evaluated += take
            if n == N_BATCH:
                break
        if n == 0:
            return
        batch.n_tokens = n
        code = llama_cpp.llama_decode(self.ctx, batch)
        if code != 0:
            # The cache may hold part of the batch; forget everything rather than guess.
            self.clear_all()
            raise EngineError(f"llama.cpp's decode failed (code {code})")
        self.evaluated_tokens += n
        for stream, index in reads:
            row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))
            if len(stream.tokens) == stream.n_prompt:
                self._keep_prompt(stream)
            self._next_token(stream, row)

    def _keep_prompt(self, stream: Stream) -> None:
        """Make sequence 0 hold `stream`'s prompt (sharing its cells), for the next requests to reuse."""
        keep = common_prefix(self._cached, stream.tokens)
        llama_cpp.llama_memory_seq_rm(self._memory, 0, keep, -1)
        llama_cpp.llama_memory_seq_cp(self._memory, stream.sequence, 0, keep, stream.n_prompt)
        self._cached = list(stream.tokens)

    def _next_token(self, stream: Stream, row: Logits) -> None:
        request = stream.request
        token = sample_token(row, request.temperature, stream.rng)
        if llama_cpp.llama_vocab_is_eog(self.vocab, token):
            stream.finish = "stop"
            return
        found = row_logprobs(row, request.top_k or 1)
        stream.tokens.append(token)
        stream.pieces += self.piece(token)
        stream.scored.append((_logprob(row, found, token), self._top(found) if request.top_k else None))
        if request.stop is not None and request.stop(stream.pieces.decode("utf-8", errors="replace")):
            stream.finish = "stop"
        elif len(stream.tokens) - stream.n_prompt >= stream.max_new:
            stream.finish = "length"

    def release(self, stream: Stream) -> None:
        """Free `stream`'s sequence (cells sequence 0 shares stay)."""
        llama_cpp.llama_memory_seq_rm(self._memory, stream.sequence, -1, -1)

    def clear_all(self) -> None:
        """Forget every sequence's cells."""
        llama_cpp.llama_memory_clear(self._memory, True)
        self._cached.clear()

    def _top(self, found: RowLogprobs) -> list[tuple[str, float]]:
        # Two ids can write the same text; the likelier one is kept (found.top is sorted).
        top: dict[str, float] = {}
        for token, logprob in found.top:
            top.setdefault(self.token_text(token), logprob)
        return list(top.items())


def _logprob(row: Logits, found: RowLogprobs, token: int) -> float:
    return float(row[token]) - found.log_norm
