"""A real HTTP server on 127.0.0.1 speaking the OpenAI wire format, driven by a script.

Each request takes the next scripted behaviour (`Answer`, `Echo`, `Status`, `Slow`, `Malformed`,
`Truncated`, `Reset`); `default` answers once the script is empty. Every request is recorded
(path, headers, parsed body) and the server tracks how many were in flight at once, so tests can
assert what a client sent and how hard it pushed. A request that finds neither a scripted
behaviour nor a default gets a 418 and is listed in `unscripted`: the fixture fails the test.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

TopAlternatives = Sequence[tuple[str, float]]


@dataclass(frozen=True)
class Answer:
    """A chat completion. `logprobs` holds (token, logprob, [(alternative, logprob), ...]) per token."""

    content: str = "ok"
    logprobs: Sequence[tuple[str, float, TopAlternatives]] | None = None
    prompt_tokens: int = 11
    completion_tokens: int = 3
    finish_reason: str = "stop"
    include_usage: bool = True


@dataclass(frozen=True)
class Echo:
    """A legacy completion with echo=True: `tokens` are the prompt's then the generated ones.

    Each token is (text, logprob or None, {alternative: logprob}); `logprobs=False` omits them.
    """

    tokens: Sequence[tuple[str, float | None, Mapping[str, float]]] = ()
    prompt_tokens: int | None = None  # default: all tokens but the last
    completion_tokens: int = 1
    logprobs: bool = True


@dataclass(frozen=True)
class Respond:
    """Compute the behaviour from the request body (a fake model that reads its prompt)."""

    fn: Callable[[Any], Behaviour]


@dataclass(frozen=True)
class Status:
    """An error status with a JSON error body (and a Retry-After header if given)."""

    code: int
    message: str = "scripted failure"
    retry_after: str | None = None


@dataclass(frozen=True)
class Slow:
    """Wait `delay_s` (woken early when the server stops), then behave as `then`."""

    delay_s: float
    then: Behaviour = field(default_factory=Answer)


@dataclass(frozen=True)
class Malformed:
    """A 200 whose body is not what it claims to be."""

    body: bytes = b'{"id": "chatcmpl-x", "choices": [{"message": '
    content_type: str = "application/json"


@dataclass(frozen=True)
class Truncated:
    """Announce `declared_length` bytes, send fewer, close the connection."""

    body: bytes = b'{"id": "chatcmpl-x", "object": "chat.comp'
    declared_length: int = 4096


@dataclass(frozen=True)
class Reset:
    """Close the connection (with a TCP reset) without sending any response."""


Behaviour = Answer | Echo | Status | Slow | Malformed | Truncated | Reset | Respond


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: Mapping[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None if the body was not JSON
    raw: bytes


class ChatServer:
    """Start with `with ChatServer() as server:`; point clients at `server.base_url`."""

    def __init__(self, default: Behaviour | None = None) -> None:
        self.default = default
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[ReceivedRequest] = []
        self._unscripted: list[ReceivedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for the serving loop to notice, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="chat-server", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *behaviours: Behaviour) -> ChatServer:
        """Queue behaviours for the next requests, in order."""
        with self._lock:
            self._script.extend(behaviours)
        return self

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def bodies(self) -> list[Any]:
        return [request.body for request in self.requests]

    @property
    def unscripted(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._unscripted)

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    @property
    def pending(self) -> int:
        """Scripted behaviours not yet used."""
        with self._lock:
            return len(self._script)

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _begin(self, request: ReceivedRequest) -> Behaviour | None:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if self._script:
                return self._script.popleft()
            if self.default is None:
                self._unscripted.append(request)
            return self.default

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _QuietServer(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: more clients connecting at once (a client with 32
    # calls in flight) would see connection resets that a real server never sends.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping a kept-alive connection (a killed process, an attempt that timed out) is
        # routine here, not worth a traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        chat_server = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers, so clients pool connections
    timeout = 30  # an idle keep-alive connection does not pin its thread forever
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stall between
    chat_server: ChatServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # keep test output clean; the server's record is `requests`

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        request = ReceivedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw)
        behaviour = self.chat_server._begin(request)
        try:
            self._act(behaviour, request)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout); nothing to answer
        finally:
            self.chat_server._end()

    def _act(self, behaviour: Behaviour | None, request: ReceivedRequest) -> None:
        match behaviour:
            case None:
                self._send(418, {"error": {"message": "chat_server: script exhausted"}})
            case Respond(fn=fn):
                self._act(fn(request.body), request)
            case Answer():
                self._send(200, _chat_completion(behaviour, request.body))
            case Echo():
                self._send(200, _legacy_completion(behaviour, request.body))
            case Status(code=code, message=message, retry_after=retry_after):
                headers = {"Retry-After": retry_after} if retry_after is not None else {}
                self._send(code, {"error": {"message": message, "type": "scripted", "code": code}}, headers)
            case Slow(delay_s=delay_s, then=then):
                if not self.chat_server._stopping.wait(delay_s):
                    self._act(then, request)
                else:
                    self.close_connection = True
            case Malformed(body=payload, content_type=content_type):
                self._send_raw(200, payload, content_type)
            case Truncated(body=payload, declared_length=declared):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(declared))
                self.end_headers()
                self.wfile.write(payload)
                self.close_connection = True
            case Reset():
                # Linger 0: close() sends RST instead of a graceful FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True

    def _send(self, code: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        self._send_raw(code, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(self, code: int, payload: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _model(body: Any) -> str:
    return body.get("model", "unknown") if isinstance(body, dict) else "unknown"


def _token_entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def _chat_completion(answer: Answer, body: Any) -> dict[str, Any]:
    logprobs = None
    if answer.logprobs is not None:
        logprobs = {
            "content": [
                {**_token_entry(token, logprob), "top_logprobs": [_token_entry(t, lp) for t, lp in top]}
                for token, logprob, top in answer.logprobs
            ],
            "refusal": None,
        }
    reply: dict[str, Any] = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": _model(body),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.content},
                "logprobs": logprobs,
                "finish_reason": answer.finish_reason,
            }
        ],
    }
    if answer.include_usage:
        reply["usage"] = {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        }
    return reply


def _legacy_completion(echo: Echo, body: Any) -> dict[str, Any]:
    texts = [token for token, _, _ in echo.tokens]
    offsets = [sum(len(text) for text in texts[:i]) for i in range(len(texts))]
    logprobs = None
    if echo.logprobs:
        logprobs = {
            "tokens": texts,
            "token_logprobs": [logprob for _, logprob, _ in echo.tokens],
            "top_logprobs": [dict(top) if logprob is not None else None for _, logprob, top in echo.tokens],
            "text_offset": offsets,
        }
    prompt_tokens = echo.prompt_tokens if echo.prompt_tokens is not None else max(len(texts) - 1, 0)
    return {
        "id": "cmpl-scripted",
        "object": "text_completion",
        "created": 0,
        "model": _model(body),
        "choices": [{"index": 0, "text": "".join(texts), "logprobs": logprobs, "finish_reason": "length"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": echo.completion_tokens,
            "total_tokens": prompt_tokens + echo.completion_tokens,
        },
    }
