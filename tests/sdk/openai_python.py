"""Drives keyward-host with the official OpenAI Python SDK (run by tests/openai_sdk.rs).

Usage: python3 openai_python.py BASE_URL   (BASE_URL = http://127.0.0.1:PORT/v1)
Prints one line per check and exits non-zero on the first failure.
"""

import sys

import openai
from openai import OpenAI

BASE = sys.argv[1]


def client(key):
    # max_retries=0: the SDK would otherwise retry 429s and 5xx itself.
    return OpenAI(base_url=BASE, api_key=key, max_retries=0)


def expect(error_class, call, status, error_type):
    try:
        call()
    except error_class as error:
        assert error.status_code == status, (error.status_code, status)
        body = error.body if isinstance(error.body, dict) else {}
        assert body.get("type") == error_type, (body, error_type)
        assert error.message, "the SDK shows the message"
        print(f"ok: {error_class.__name__} {status} {error_type}")
        return
    raise AssertionError(f"expected {error_class.__name__}")


chat = dict(model="openai/gpt-4o", max_tokens=20, messages=[{"role": "user", "content": "hi"}])

reply = client("sk-bf-open-0123456789").chat.completions.create(**chat)
assert reply.choices[0].message.content, reply
assert reply.usage.completion_tokens == 20, reply.usage
print("ok: chat completion")

chunks = list(client("sk-bf-open-0123456789").chat.completions.create(
    stream=True, stream_options={"include_usage": True}, **chat))
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert "keyward mock" in text, text
assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 20, chunks[-1]
print("ok: streamed chat completion with usage")

embedding = client("sk-bf-open-0123456789").embeddings.create(model="openai/text-embedding-3-small", input="hi")
assert len(embedding.data[0].embedding) == 8, embedding
print("ok: embeddings")

text = client("sk-bf-open-0123456789").completions.create(model="openai/gpt-4o", prompt="hi", max_tokens=3)
assert text.choices[0].text, text
print("ok: text completion")

models = [m.id for m in client("sk-bf-mini-0123456789").models.list()]
assert models == ["openai/gpt-4o-mini"], models
print("ok: models listed for the virtual key")

expect(openai.AuthenticationError, lambda: client("not-a-virtual-key").chat.completions.create(**chat),
       401, "virtual_key_required")
expect(openai.PermissionDeniedError, lambda: client("sk-bf-nobody-0123456789").chat.completions.create(**chat),
       403, "virtual_key_not_found")
expect(openai.PermissionDeniedError, lambda: client("sk-bf-mini-0123456789").chat.completions.create(**chat),
       403, "model_blocked")
for _ in range(3):
    client("sk-bf-limited-0123456789").chat.completions.create(**chat)
expect(openai.RateLimitError, lambda: client("sk-bf-limited-0123456789").chat.completions.create(**chat),
       429, "request_limited")
for _ in range(5):
    client("sk-bf-budget-0123456789").chat.completions.create(**chat)
expect(openai.APIStatusError, lambda: client("sk-bf-budget-0123456789").chat.completions.create(**chat),
       402, "budget_exceeded")
expect(openai.NotFoundError, lambda: client("sk-bf-open-0123456789").files.list(), 404, "not_found")
expect(openai.BadRequestError, lambda: client("sk-bf-open-0123456789").chat.completions.create(
    model="", messages=[]), 400, "invalid_request")
print("all OpenAI SDK checks passed")
