"""A local OpenAI-compatible chat server for triage tests and `scripts/eval_triage.py`.

It serves `POST /v1/chat/completions` on 127.0.0.1 (a free port, in a thread) and answers
through a *scripted model*, `PlantedModel`: a test double that looks up each sample id it
sees in the prompt in a table of planted labels, so it "knows" the right category. What it
measures is therefore Cockpit's pipeline (prompting, parsing, validation, retries,
verification, statistics) given a model of a stated quality, not any real model.

The capable persona behaves like a good but imperfect model: it names categories in its own
words, splits one planted category into two overlapping names (which triage must merge),
proposes one spurious category for the unpatterned failures (which triage must drop), and
mislabels `noise` of the samples (deterministically, by a hash of the id).

The server can also be scripted, request by request, to return invalid JSON, labels with
unknown categories, time out (sleep longer than the client's timeout), rate-limit (429 with
Retry-After) or fail (500, 401, 404).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DATA = re.compile(r"<<<DATA ([0-9a-f]+)>>>\n([\s\S]*?)\n<<<END DATA \1>>>")
LISTED = re.compile(r"^- ([a-z0-9_]+): ", re.MULTILINE)
REPAIR_IDS = re.compile(r"with labels for exactly these ids: ([^\n]*?)\.\s*$")

# planted category -> the names (and definitions) the capable model uses for it
CAPABLE_NAMES: dict[str, list[tuple[str, str]]] = {
    "spanish_code_switching": [
        (
            "spanish_english_code_switching",
            "The customer writes in a mix of Spanish and English and the model misreads what is "
            "asked.",
        )
    ],
    "unit_arithmetic": [
        (
            "unit_conversion_error",
            "Arithmetic with units (km/h, grams and kilograms, miles, minutes, litres) where the "
            "model slips converting units.",
        ),
        (
            "calculation_slip",
            "The model makes a numeric mistake on a question that needs a calculation.",
        ),
    ],
    "multi_hop": [
        (
            "multi_hop_reasoning",
            "A long context where the answer needs two or three linked facts; the model stops at an "
            "intermediate entity.",
        )
    ],
    "arithmetic_error": [("arithmetic_mistake", "The model gives a wrong number.")],
    "hallucinated_entity": [
        ("invented_entity", "The model names a place or symbol that does not exist.")
    ],
    "wrong_language": [
        ("answer_in_wrong_language", "The answer is in another language than the question.")
    ],
}
SPURIOUS = ("ambiguous_policy_question", "The policy question is ambiguous.")


def _unit(key: str) -> float:
    """A deterministic number in [0, 1) from a string."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0x100000000


class PlantedModel:
    """Answers propose and assign prompts from the planted labels of the sample ids."""

    def __init__(
        self, truth: dict[str, str], noise: float = 0.04, spurious: bool = True, split: bool = True
    ) -> None:
        self.truth = truth
        self.noise = noise
        self.spurious = spurious
        self.split = split

    def names_for(self, planted: str) -> list[tuple[str, str]]:
        names = CAPABLE_NAMES.get(planted, [])
        return names if self.split else names[:1]

    def propose(self, ids: list[str], k: int) -> dict[str, Any]:
        by_cat: dict[str, list[str]] = {}
        for sid in ids:
            by_cat.setdefault(self.truth.get(sid, "unknown"), []).append(sid)
        cats = []
        for planted, members in sorted(by_cat.items(), key=lambda kv: -len(kv[1])):
            if len(members) < 3:
                continue
            names = self.names_for(planted)
            if not names and planted == "unpatterned" and self.spurious:
                names = [SPURIOUS]
            for j, (name, definition) in enumerate(names):
                # with two names, each gets a random half of the examples (as a model would)
                examples = [
                    m for m in members if len(names) == 1 or int(_unit(m + "p") * len(names)) == j
                ]
                cats.append({"name": name, "definition": definition, "example_ids": examples[:12]})
        return {"categories": cats[:k]}

    def label(self, sid: str, allowed: set[str]) -> tuple[str, str]:
        planted = self.truth.get(sid, "unknown")
        names = [n for n, _ in self.names_for(planted) if n in allowed]
        if planted == "unpatterned" and SPURIOUS[0] in allowed and _unit(sid + "s") < 0.15:
            return SPURIOUS[0], "policy wording"
        if not names or _unit(sid + "n") < self.noise:
            return "other", "no clear pattern"
        pick = names[int(_unit(sid + "a") * len(names))]
        return pick, f"looks like {pick.replace('_', ' ')}"

    def assign(self, ids: list[str], allowed: set[str]) -> dict[str, Any]:
        labels = []
        for sid in ids:
            category, why = self.label(sid, allowed)
            labels.append({"id": sid, "category": category, "rationale": why})
        return {"labels": labels}

    def answer(self, messages: list[dict[str, Any]]) -> str:
        first_user = next(m["content"] for m in messages if m["role"] == "user")
        block = DATA.search(first_user)
        ids = [str(json.loads(line)["id"]) for line in block.group(2).splitlines()] if block else []
        last = messages[-1]["content"]
        wanted = REPAIR_IDS.search(last) if len(messages) > 2 else None
        if "Task: read these" in first_user:
            k = int(re.search(r"at most (\d+) failure", first_user).group(1))  # type: ignore[union-attr]
            return json.dumps(self.propose(ids, k))
        allowed = set(LISTED.findall(first_user)) | {"other"}
        if wanted:
            ids = [s.strip() for s in wanted.group(1).split(",") if s.strip()]
        return json.dumps(self.assign(ids, allowed))


def _tokens(text: str) -> int:
    return len(text) // 4 + 1


# Built once, before any test measures memory: what the "huge" behaviours send.
HUGE_REPLY = json.dumps({"choices": [{"index": 0, "message": {
    "role": "assistant", "content": "x" * (20 * 1024 * 1024)}}]}).encode()


class LlmTestServer:
    """`with LlmTestServer(model) as srv: srv.base_url ...`; `script` lists behaviours for
    successive requests ("ok", "invalid_json", "unknown_category", "timeout", "rate_limit",
    "server_error", "unauthorized", "not_found", "huge" and "huge_unannounced": a 20 MB
    reply with and without its Content-Length); after the script, every request is "ok"
    (or `default`)."""

    def __init__(
        self,
        model: PlantedModel,
        script: Iterable[str] = (),
        default: str = "ok",
        timeout_sleep: float = 1.5,
        retry_after: str = "0.2",
    ) -> None:
        self.model = model
        self.script = list(script)
        self.default = default
        self.timeout_sleep = timeout_sleep
        self.retry_after = retry_after
        self.requests: list[dict[str, Any]] = []
        self.behaviours: Counter[str] = Counter()
        self.sent_bytes = 0  # response bytes written (the huge-reply tests)
        self.billed_prompt_tokens = 0
        self.billed_completion_tokens = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), daemon=True, name="llm-test-server"
        )

    @property
    def base_url(self) -> str:
        port = self._httpd.server_address[1]
        return f"http://127.0.0.1:{port}/v1"

    def __enter__(self) -> LlmTestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def sent_text(self) -> str:
        """Everything clients sent, concatenated (for checks that secrets never left)."""
        with self._lock:
            return "\n".join(
                m.get("content", "") for r in self.requests for m in r.get("messages", [])
            )

    def _respond(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        behaviour = self._next()
        with self._lock:
            self.requests.append(body)
            self.behaviours[behaviour] += 1
        if behaviour == "rate_limit":
            return (
                429,
                {"Retry-After": self.retry_after},
                {
                    "error": {
                        "message": "Rate limit reached",
                        "type": "rate_limit_error",
                        "code": "rate_limit",
                    }
                },
            )
        if behaviour == "server_error":
            return 500, {}, {"error": {"message": "internal error", "type": "server_error"}}
        if behaviour == "unauthorized":
            return 401, {}, {"error": {"message": "bad key", "type": "invalid_request_error"}}
        if behaviour == "not_found":
            return (
                404,
                {},
                {"error": {"message": "model not found", "type": "invalid_request_error"}},
            )
        if behaviour == "timeout":
            self._stop.wait(self.timeout_sleep)
        if behaviour in ("huge", "huge_unannounced"):  # a 20 MB reply (runaway or hostile)
            return 200, {"X-Huge": behaviour}, {}
        messages = body.get("messages", [])
        text = self.model.answer(messages)
        if behaviour == "invalid_json":
            text = "Sure! Here is the JSON you asked for: {labels: [oops"
        elif behaviour == "unknown_category":
            value = json.loads(text)
            for label in value.get("labels", []):
                label["category"] = "something_new"
            text = json.dumps(value)
        prompt = sum(_tokens(m.get("content", "")) + 4 for m in messages)
        completion = _tokens(text)
        if behaviour != "timeout":
            with self._lock:
                self.billed_prompt_tokens += prompt
                self.billed_completion_tokens += completion
        return (
            200,
            {},
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "test"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            },
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {}, {"error": {"message": "no such route"}})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, {}, {"error": {"message": "bad json"}})
                    return
                status, headers, payload = server._respond(body)
                self._send(status, headers, payload)

            def _send(self, status: int, headers: dict[str, str], payload: dict[str, Any]) -> None:
                data = HUGE_REPLY if "X-Huge" in headers else json.dumps(payload).encode()
                unannounced = headers.get("X-Huge") == "huge_unannounced"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    if not unannounced:  # else the body ends when the connection closes
                        self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    view = memoryview(data)
                    for start in range(0, len(data), 1 << 16):
                        self.wfile.write(view[start:start + (1 << 16)])
                        server.sent_bytes += min(1 << 16, len(data) - start)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests, refused huge replies)

        return Handler
