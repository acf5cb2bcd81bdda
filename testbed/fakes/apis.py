"""The wire formats of the real APIs, as the fakes speak them: where the texts are in a request,
what a success and an error look like. A fake "translation" is ``[target] text`` with every
``<x id="N"/>`` placeholder tag kept; ``mangle`` loses the first one (or invents one)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

TOKEN = re.compile(r'<x id="\d+"/>')


def mangle(text: str) -> str:
    lost = TOKEN.sub("", text, count=1)
    return lost if lost != text else text + " {invented}"


@dataclass(frozen=True)
class ApiSpec:
    name: str
    path: str
    texts: Callable[[dict[str, Any]], list[str]]
    target: Callable[[dict[str, Any]], str]
    success: Callable[[dict[str, Any], list[str]], dict[str, Any]]
    error: Callable[[int, str], dict[str, Any]]

    def translate(self, body: dict[str, Any], text: str) -> str:
        return f"[{self.target(body)}] {text}"

    def mangle(self, text: str) -> str:
        return mangle(text)


DEEPL = ApiSpec(
    name="deepl",
    path="/v2/translate",
    texts=lambda body: body["text"],
    target=lambda body: body["target_lang"],
    success=lambda body, out: {
        "translations": [
            {"detected_source_language": "EN", "text": t, "billed_characters": len(src)}
            for t, src in zip(out, body["text"], strict=False)
        ]
    },
    error=lambda status, message: {"message": message},
)

GOOGLE = ApiSpec(
    name="google",
    path="/language/translate/v2",
    texts=lambda body: body["q"],
    target=lambda body: body["target"],
    success=lambda body, out: {"data": {"translations": [{"translatedText": t} for t in out]}},
    error=lambda status, message: {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"reason": "dailyLimitExceeded" if status == 403 else "backendError"}],
        }
    },
)

V3_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
}


def _v3_error(status: int, message: str) -> dict[str, Any]:
    """google.rpc.Status with an ErrorInfo: RATE_LIMIT_EXCEEDED for 429 and rate-limit 403s."""
    rate = status == 429 or (status == 403 and "rate" in message.lower())
    reason = "RATE_LIMIT_EXCEEDED" if rate else V3_STATUS.get(status, "BACKEND_ERROR")
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
    return {
        "error": {
            "code": status,
            "message": message,
            "status": V3_STATUS.get(status, "UNAVAILABLE" if status == 503 else "INTERNAL"),
            "details": [info],
        }
    }


def _v3_success(body: dict[str, Any], out: list[str]) -> dict[str, Any]:
    detected = {} if "sourceLanguageCode" in body else {"detectedLanguageCode": "en"}
    answer: dict[str, Any] = {"translations": [{"translatedText": t, **detected} for t in out]}
    if "glossaryConfig" in body:  # the glossary's terms applied: marked so tests see which list is used
        config = body["glossaryConfig"]
        answer["glossaryTranslations"] = [
            {"translatedText": f"{t} (glossary)", "glossaryConfig": config} for t in out
        ]
    return answer


GOOGLE_V3_PROJECT = "test-project"
GOOGLE_V3 = ApiSpec(
    name="google_v3",
    path=f"/v3/projects/{GOOGLE_V3_PROJECT}/locations/global:translateText",
    texts=lambda body: body["contents"],
    target=lambda body: body["targetLanguageCode"],
    success=_v3_success,
    error=_v3_error,
)

LIBRE = ApiSpec(
    name="libre",
    path="/translate",
    texts=lambda body: body["q"],
    target=lambda body: body["target"],
    success=lambda body, out: {"translatedText": out},
    error=lambda status, message: {"error": message},
)


def usage(body: dict[str, Any], out: list[str]) -> dict[str, int]:
    """Token counts as a chat completions API reports them (here: about 4 characters a token)."""
    prompt = sum(len(m["content"]) for m in body["messages"]) // 4 + 1
    completion = len(orjson.dumps({"translations": out})) // 4 + 1
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _task(body: dict[str, Any]) -> dict[str, Any]:
    task: dict[str, Any] = orjson.loads(body["messages"][-1]["content"])
    return task


OPENAI = ApiSpec(
    name="openai",
    path="/v1/chat/completions",
    texts=lambda body: _task(body)["texts"],
    target=lambda body: _task(body)["target_lang"],
    success=lambda body, out: {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": orjson.dumps({"translations": out}).decode()},
                "finish_reason": "stop",
            }
        ],
        "usage": usage(body, out),
    },
    error=lambda status, message: {"error": {"message": message, "type": "fake", "code": status}},
)

# Some OpenAI-compatible servers leave ``usage`` out.
OPENAI_WITHOUT_USAGE = replace(
    OPENAI, success=lambda body, out: {k: v for k, v in OPENAI.success(body, out).items() if k != "usage"}
)
