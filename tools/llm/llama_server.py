"""The local LLM server: an OpenAI-compatible HTTP API over `LlamaEngine`, on loopback.

    python -m tools.llm.llama_server --model X.gguf --port P [--alias NAME] [--n-ctx N] [--n-threads T]

Endpoints (the subset of OpenAI's API that the client uses, in OpenAI's shapes):
- `GET /v1/models`
- `POST /v1/chat/completions`: messages, max_tokens (or max_completion_tokens), temperature, seed,
  logprobs, top_logprobs; n = 1 only.
- `POST /v1/completions`: prompt (one string), max_tokens (0 scores the prompt only), echo, logprobs;
  echoed prompt tokens carry the logprob of each token given those before it (aligned, unlike
  llama-cpp-python 0.3). Extension: `logprob_offsets`, character offsets into the prompt; only the
  tokens that start there get logprobs (the others get null), and only their logits rows are computed.
  Extension: `split_ten` (true; with `logprob_offsets`), for a tokenizer that writes "10" as "1" then
  "0": at a named token whose top_logprobs hold "1", the entry "10" is added with
  log(P("1") * P("0" | "1")) and "1" keeps log of the rest (omitted when nothing is left), so a
  value slot reads 10 instead of 1. It costs one more batch of one token per such slot. On a
  tokenizer with a "10" token it changes nothing.

Generations (chat, and completions with max_tokens > 0) are decoded together, up to `--parallel` at
once, each answered as soon as it ends; prompt scorings run one at a time between them
(`llama_scheduler`). Errors are JSON `{"error": {"message"}}`
with 400 for a request the server cannot serve, 500 for a failure inside the model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tools.llm.llama_engine import (
    DEFAULT_N_CTX,
    EngineError,
    Generation,
    GenerationRequest,
    LlamaEngine,
    ScoredToken,
)
from tools.llm.llama_scheduler import Scheduler
from tools.llm.local_server import LOCAL_PARALLEL

MAX_TOP_LOGPROBS = 20
DEFAULT_MAX_TOKENS = 256


class BadRequest(Exception):
    """The request is not one this server serves; the message says what to change."""


def _int(body: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key} must be a whole number from {low} to {high}, not {value!r}")
    return value


def _temperature(body: Mapping[str, Any]) -> float:
    value = body.get("temperature", 1.0)
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
        raise BadRequest(f"temperature must be a number from 0 to 2, not {value!r}")
    return float(value)


def _seed(body: Mapping[str, Any]) -> int | None:
    value = body.get("seed")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest(f"seed must be a whole number, not {value!r}")
    return value


def _messages(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages must be a non-empty list")
    out = []
    for message in raw:
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise BadRequest("each message needs a role and a text content")
        content = message.get("content")
        if isinstance(content, list):  # content parts: text only
            content = "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
        if not isinstance(content, str):
            raise BadRequest("each message needs a role and a text content")
        out.append((message["role"], content))
    return out


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _chat_logprobs(generation: Generation) -> dict[str, Any]:
    return {"content": [
        {"token": t.text, "logprob": t.logprob, "bytes": list(t.text.encode()),
         "top_logprobs": [{"token": s, "logprob": lp, "bytes": list(s.encode())} for s, lp in (t.top or [])]}
        for t in generation.tokens
    ]}


def _completion_logprobs(tokens: list[ScoredToken], start: int) -> dict[str, Any]:
    return {
        "tokens": [t.text for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [dict(t.top) if t.top is not None else None for t in tokens],
        "text_offset": [start + t.offset for t in tokens],
    }


class LocalLLMService:
    """The endpoints' logic over one engine, independent of HTTP; any thread may call it."""

    def __init__(self, engine: LlamaEngine, alias: str, max_streams: int) -> None:
        self.engine, self.alias = engine, alias
        self.scheduler = Scheduler(engine, max_streams)
        self.created = int(time.time())

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.alias, "object": "model", "created": self.created,
                                            "owned_by": "neuron-refinery"}]}

    def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        messages = _messages(body)
        if _int(body, "n", 1, 1, 1) != 1:
            raise BadRequest("n must be 1")
        max_tokens = _int(body, "max_tokens", 0, 0, 1 << 20) or _int(body, "max_completion_tokens", DEFAULT_MAX_TOKENS, 1, 1 << 20)
        top = _int(body, "top_logprobs", 0, 0, MAX_TOP_LOGPROBS) if body.get("logprobs") else None
        prompt = self.engine.chat_prompt(messages)  # the template alone: no model state, safe off the scheduler
        generation = self.scheduler.generate(
            GenerationRequest(prompt, True, max_tokens, _temperature(body), _seed(body), top))
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": generation.text},
                                  "finish_reason": generation.finish_reason,
                                  "logprobs": _chat_logprobs(generation) if body.get("logprobs") else None}
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": self.alias, "choices": [choice],
                "usage": _usage(generation.prompt_tokens, len(generation.tokens))}

    def completion(self, body: Mapping[str, Any]) -> dict[str, Any]:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str) or not prompt:
            raise BadRequest("prompt must be one non-empty string")
        max_tokens = _int(body, "max_tokens", 16, 0, 1 << 20)
        k = _int(body, "logprobs", 0, 0, MAX_TOP_LOGPROBS) if body.get("logprobs") is not None else None
        offsets = body.get("logprob_offsets")
        if offsets is not None and (not isinstance(offsets, list)
                                    or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise BadRequest("logprob_offsets must be a list of character offsets into the prompt")
        split_ten = body.get("split_ten", False)
        if not isinstance(split_ten, bool) or (split_ten and offsets is None):
            raise BadRequest("split_ten must be true or false, and needs logprob_offsets")
        echo = bool(body.get("echo"))
        echoed = (self.scheduler.exclusive(lambda engine: engine.score(prompt, max(k or 1, 1), offsets, split_ten=split_ten))
                  if echo and k is not None else [])
        generation = (self.scheduler.generate(
            GenerationRequest(prompt, False, max_tokens, _temperature(body), _seed(body), k or None))
                      if max_tokens > 0 else None)
        n_prompt = len(echoed) if echo and k is not None else (generation.prompt_tokens if generation else 0)
        text = (prompt if echo else "") + (generation.text if generation else "")
        logprobs = None
        if k is not None:
            prompt_part = _completion_logprobs(echoed, 0) if echo else {"tokens": [], "token_logprobs": [],
                                                                         "top_logprobs": [], "text_offset": []}
            generated_part = _completion_logprobs(generation.tokens if generation else [], len(prompt) if echo else 0)
            logprobs = {key: prompt_part[key] + generated_part[key] for key in prompt_part}
        choice = {"index": 0, "text": text, "logprobs": logprobs,
                  "finish_reason": generation.finish_reason if generation else "length"}
        return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": self.alias, "choices": [choice],
                "usage": _usage(n_prompt, len(generation.tokens) if generation else 0)}


def make_handler(service: LocalLLMService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

        def _send(self, status: int, payload: Mapping[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error"}})

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(HTTPStatus.OK, service.models())
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: GET {self.path}")

        def do_POST(self) -> None:
            routes = {"/v1/chat/completions": service.chat, "/v1/completions": service.completion}
            route = routes.get(self.path.rstrip("/"))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if route is None:
                self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: POST {self.path}")
                return
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise BadRequest("the request body must be a JSON object")
                self._send(HTTPStatus.OK, route(body))
            except (BadRequest, json.JSONDecodeError) as err:
                self._error(HTTPStatus.BAD_REQUEST, str(err))
            except EngineError as err:
                self._error(HTTPStatus.BAD_REQUEST, str(err))
            except Exception as err:  # a bug or a model failure: the client sees a 500, the log the traceback
                self.log_error("request failed: %r", err)
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(err).__name__}: {err}")

    return Handler


def _exit_with_parent(pid: int, every_s: float = 1.0) -> None:
    """Exit when `pid` is gone. The server runs in its own session (a Ctrl-C in the terminal reaches
    only the command, which stops it in order), so a command killed outright would leave it running,
    busy with its last request and holding gigabytes."""
    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.llm.llama_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="GGUF model file")
    parser.add_argument("--alias", default=None, help="model name the server answers to (default: the file name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, default=DEFAULT_N_CTX, help=f"context window in tokens (default {DEFAULT_N_CTX})")
    parser.add_argument("--n-threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--parallel", type=int, default=LOCAL_PARALLEL,
                        help=f"generations decoded together (default {LOCAL_PARALLEL}); 1 serves them one at a time")
    parser.add_argument("--exit-with-parent", type=int, default=None, metavar="PID",
                        help="exit when process PID (the command that started the server) is gone")
    args = parser.parse_args(argv)
    if args.exit_with_parent is not None:
        _exit_with_parent(args.exit_with_parent)
    engine = LlamaEngine(args.model, n_ctx=args.n_ctx, n_threads=args.n_threads)
    service = LocalLLMService(engine, args.alias or args.model.name, args.parallel)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(service))
    sys.stderr.write(f"serving {args.model} as {service.alias!r} on http://{args.host}:{args.port}/v1 "
                     f"(n_ctx {engine.n_ctx}, {engine.n_threads} threads, {args.parallel} generations at once)\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service.scheduler.close()
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
