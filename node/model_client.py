"""The one client for a language model: any OpenAI-compatible endpoint, through the `openai` SDK.

Everything the node asks a model goes through `ModelClient.complete`: structured output (the
server's `json_schema` response format when it takes one, otherwise `json_object` plus
validation and one repair retry), timeouts, and the tokens each request spent. A `Meter`
adds those up for one call and enforces its `Budget` (time and credits, as Airtop's
timeThresholdSeconds and costThresholdCredits).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import jsonschema
import referencing
import referencing.exceptions
from referencing.jsonschema import DRAFT202012

from browserplane import errors
from browserplane.errors import BrowserplaneError
from browserplane.v1 import automation_pb2 as A

if TYPE_CHECKING:
    import openai

CHARS_PER_TOKEN = 4  # a rough, deliberately generous estimate for budgets before a call
HOW_TO_CONFIGURE = (
    "no model is configured on this node: start it with --model-base-url URL --model NAME "
    "[--model-api-key KEY] (env BROWSERPLANE_MODEL_BASE_URL, BROWSERPLANE_MODEL, "
    "BROWSERPLANE_MODEL_API_KEY) for any OpenAI-compatible endpoint, or run "
    "`browserplane up --model-file PATH.gguf` to serve a local GGUF model")


def not_configured() -> BrowserplaneError:
    return BrowserplaneError(grpc.StatusCode.FAILED_PRECONDITION, errors.MODEL_NOT_CONFIGURED,
                             HOW_TO_CONFIGURE)


def credits_for(tokens: int) -> int:
    """Airtop's meta.usage.credits: a credit per thousand tokens, rounded up."""
    return math.ceil(tokens / 1000)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def trim(text: str, max_chars: int) -> str:
    """Page content cut to a budget, at a line break when one is near, marked as cut."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind("\n", 0, max_chars)
    if cut < max_chars * 0.8:
        cut = max_chars
    return text[:cut] + "\n[… the rest of the page was left out]"


class BudgetReached(Exception):
    """A call's time or credit limit stops it before its next model request."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what  # "time" or "credits"
        self.message = message


class Meter:
    """Tokens and time one model-backed call spent, against its Budget. `on_usage` gets each
    request's usage as it comes (the session's running total)."""

    def __init__(self, model: str, budget: A.Budget | None, default_time_s: float,
                 grpc_remaining: float | None = None,
                 on_usage: Callable[[A.ModelUsage], None] | None = None) -> None:
        self.usage = A.ModelUsage(model=model)
        self.started = time.monotonic()
        limit_s = (budget.time_limit_ms / 1000) if budget is not None and budget.time_limit_ms \
            else default_time_s
        if grpc_remaining is not None:  # answer before the caller gives up on us
            limit_s = min(limit_s, max(0.0, grpc_remaining - 0.5))
        self.time_limit_s = limit_s
        self.deadline = self.started + limit_s
        self.credit_limit = budget.credit_limit if budget is not None else 0
        self.on_usage = on_usage

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    @property
    def credits(self) -> int:
        return credits_for(self.usage.prompt_tokens + self.usage.completion_tokens)

    def check(self, estimated_tokens: int = 0) -> None:
        """Raises BudgetReached when the next request may not start: the time is up, the
        credits spent reached the limit, or the request would take the call past it."""
        if self.remaining() <= 0:
            raise BudgetReached("time", f"the time limit ({self.time_limit_s * 1000:.0f} ms) was reached")
        if self.credit_limit:
            total = self.usage.prompt_tokens + self.usage.completion_tokens
            if self.credits >= self.credit_limit:
                raise BudgetReached("credits", f"the credit limit ({self.credit_limit}) was reached "
                                    f"({self.credits} credits spent)")
            if credits_for(total + estimated_tokens) > self.credit_limit:
                raise BudgetReached("credits", f"the next model request (about {estimated_tokens} "
                                    f"tokens) would pass the credit limit ({self.credit_limit})")

    def add(self, prompt_tokens: int, completion_tokens: int, duration_ms: float) -> None:
        self.usage.calls += 1
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens
        self.usage.duration_ms += duration_ms
        self.usage.credits = self.credits
        if self.on_usage is not None:
            self.on_usage(A.ModelUsage(model=self.usage.model, calls=1, prompt_tokens=prompt_tokens,
                                       completion_tokens=completion_tokens,
                                       credits=credits_for(prompt_tokens + completion_tokens),
                                       duration_ms=duration_ms))

    def exhausted_error(self, reached: BudgetReached) -> BrowserplaneError:
        """For a call that reached its budget with nothing to answer."""
        if reached.what == "time":
            return BrowserplaneError(grpc.StatusCode.DEADLINE_EXCEEDED, errors.BUDGET_EXCEEDED,
                                     reached.message + " before there was an answer",
                                     metadata={"limit": "time"})
        return BrowserplaneError(grpc.StatusCode.RESOURCE_EXHAUSTED, errors.BUDGET_EXCEEDED,
                                 reached.message + " before there was an answer",
                                 metadata={"limit": "credits"})


@dataclasses.dataclass
class Answer:
    text: str
    data: Any = None  # the parsed JSON when a schema was given


def _failed(message: str, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> BrowserplaneError:
    return BrowserplaneError(code, errors.MODEL_FAILED, message)


class ModelClient:
    """Chat completions against one OpenAI-compatible endpoint. `timeout` bounds each request,
    `max_tokens` each answer, `max_input_chars` the page content sent with one request;
    `time_limit` is a model-backed call's time budget when its Budget sets none."""

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 60.0,
                 max_input_chars: int = 16_000, max_tokens: int = 1024,
                 time_limit: float = 300.0) -> None:
        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        self.max_input_chars = max_input_chars
        self.max_tokens = max_tokens
        self.time_limit = time_limit
        # Imported here, not at the top: the SDK takes ~0.5 s to import, and every component's
        # CLI start (the control plane's too) imports this module for the node's settings.
        import openai

        # One retry for a dropped connection; a server that is down is reported at once.
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "none",
                                         timeout=timeout, max_retries=1)
        self.json_schema_supported: bool | None = None  # learnt on the first structured request

    async def close(self) -> None:
        await self.client.close()

    async def complete(self, meter: Meter, system: str, user: str, *, schema: dict | None = None,
                       max_tokens: int = 512) -> Answer:
        """One answer. With `schema`, an answer that validates against it (or MODEL_FAILED)."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        if schema is None:
            text = await self._request(meter, messages, None, max_tokens)
            return Answer(text=text.strip())
        validator = jsonschema.Draft202012Validator(schema)
        text = await self._structured(meter, messages, schema, max_tokens)
        problem = _problem(text, validator)
        if problem is None:
            return Answer(text=text.strip(), data=json.loads(text))
        # One repair: the model sees what it answered and why it does not fit.
        messages += [{"role": "assistant", "content": text[:4000]},
                     {"role": "user", "content": f"That answer is not valid: {problem}. Answer again "
                      "with only JSON that conforms to the schema."}]
        text = await self._structured(meter, messages, schema, max_tokens)
        problem = _problem(text, validator)
        if problem is None:
            return Answer(text=text.strip(), data=json.loads(text))
        raise _failed(f"the model's answer did not conform to the schema, after one repair: {problem}",
                      grpc.StatusCode.FAILED_PRECONDITION)

    async def _structured(self, meter: Meter, messages: list[dict], schema: dict,
                          max_tokens: int) -> str:
        if self.json_schema_supported is not False:
            fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
            try:
                return await self._request(meter, messages, fmt, max_tokens)
            except _FormatRefused as refused:
                # A server without the format is remembered; one that could not turn this one
                # schema into a grammar gets the next schema as json_schema again.
                if "response_format" in refused.body:
                    self.json_schema_supported = False
        # The schema goes in the prompt; the answer is validated by us.
        hinted = [dict(messages[0], content=messages[0]["content"] + "\nAnswer with only a JSON value "
                       "that conforms to this JSON Schema:\n" + json.dumps(schema)), *messages[1:]]
        try:
            return await self._request(meter, hinted, {"type": "json_object"}, max_tokens)
        except _FormatRefused:
            return await self._request(meter, hinted, None, max_tokens)

    async def _request(self, meter: Meter, messages: list[dict], fmt: dict | None,
                       max_tokens: int) -> str:
        meter.check(sum(estimate_tokens(m["content"]) for m in messages) + max_tokens)
        timeout = max(0.05, min(self.timeout, meter.remaining()))
        extra: dict[str, Any] = {"response_format": fmt} if fmt is not None else {}
        started = time.monotonic()
        import openai  # loaded by __init__ already

        try:
            response = await asyncio.wait_for(self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=max_tokens, temperature=0,
                timeout=timeout, **extra), timeout + 1)
        except (openai.APITimeoutError, TimeoutError):
            if meter.remaining() <= 0.05:
                raise BudgetReached("time", f"the time limit ({meter.time_limit_s * 1000:.0f} ms) "
                                    "was reached while the model was answering") from None
            raise _failed(f"the model at {self.base_url} did not answer within {timeout:.0f} s "
                          "(--model-timeout)", grpc.StatusCode.DEADLINE_EXCEEDED) from None
        except openai.APIConnectionError as err:
            raise _failed(f"the model at {self.base_url} cannot be reached: {err.__cause__ or err}"
                          ) from None
        except openai.APIStatusError as err:
            body = _error_text(err)
            if fmt is not None and err.status_code in (400, 415, 422, 500, 501) and \
                    ("response_format" in body or "json_schema" in body or "schema" in body.lower()):
                raise _FormatRefused(body) from None
            if err.status_code in (401, 403):
                raise _failed(f"the model at {self.base_url} refused the key (HTTP {err.status_code}; "
                              "--model-api-key)", grpc.StatusCode.FAILED_PRECONDITION) from None
            if err.status_code == 404:
                raise _failed(f"the model at {self.base_url} does not know model {self.model!r} "
                              f"(HTTP 404; --model): {body}", grpc.StatusCode.FAILED_PRECONDITION) from None
            raise _failed(f"the model at {self.base_url} answered HTTP {err.status_code}: {body}"
                          ) from None
        except openai.OpenAIError as err:
            raise _failed(f"the model request failed: {err}") from None
        duration_ms = (time.monotonic() - started) * 1000
        usage = response.usage
        meter.add(usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0,
                  duration_ms)
        if not response.choices or response.choices[0].message.content is None:
            raise _failed("the model answered no text")
        return response.choices[0].message.content

    async def choose_element(self, description: str, intent: str,
                             candidates: list[dict]) -> tuple[int | None, A.ModelUsage]:
        """Which of `candidates` (dicts with ref, role, label, context ...) a person means by
        `description`: an index into the list, or None when none fits, the model failed, or it
        named one it was not given. The model sees only these candidates."""
        meter = Meter(self.model, None, self.timeout)
        if not candidates:
            return None, meter.usage
        lines = []
        for i, c in enumerate(candidates):
            facts = [f"{k}: {json.dumps(str(v))[:200]}" for k, v in c.items()
                     if k in ("role", "label", "text", "context", "tag", "type", "name", "href",
                              "placeholder", "why") and v not in ("", None)]
            lines.append(f"{i}. " + "; ".join(facts))
        schema = {"type": "object", "properties": {
            "index": {"type": "integer", "minimum": -1, "maximum": len(candidates) - 1}},
            "required": ["index"]}
        try:
            answer = await self.complete(
                meter, "You pick the one web page element a person means. Answer with the number "
                "of the element, or -1 when none of them fits.",
                f"The person wants to {intent or 'use'}: {description}\n\nElements:\n"
                + "\n".join(lines), schema=schema, max_tokens=max(16, min(20, self.max_tokens)))
        except (BrowserplaneError, BudgetReached):
            return None, meter.usage
        index = answer.data.get("index") if isinstance(answer.data, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(candidates):
            return None, meter.usage
        return index, meter.usage


class _FormatRefused(Exception):
    """The server does not take this response_format (or this schema as one)."""

    def __init__(self, body: str) -> None:
        super().__init__(body)
        self.body = body


def _problem(text: str, validator: jsonschema.protocols.Validator) -> str | None:
    try:
        value = json.loads(text)
    except ValueError as err:
        return f"it is not JSON ({err})"
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    except (referencing.exceptions.Unresolvable, jsonschema.exceptions.UnknownType) as err:
        return f"it could not be checked against the schema ({err})"[:300]
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the answer"
    return f"{where}: {error.message[:300]}"


def _error_text(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
    return str(body or err.message)[:300]


def check_schema(text: str, field: str = "json_schema") -> dict | None:
    """A request's JSON Schema text, parsed and checked (INVALID_ARGUMENT when it is not one)."""
    if not text.strip():
        return None
    try:
        schema = json.loads(text)
    except ValueError as err:
        raise errors.invalid(field, f"is not JSON: {err}") from None
    if not isinstance(schema, dict):
        raise errors.invalid(field, "must be a JSON object (a JSON Schema)")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as err:
        raise errors.invalid(field, f"is not a valid JSON Schema: {err.message[:300]}") from None
    refs = _refs(schema)
    if any(not ref.startswith("#") for ref in refs):
        # Nothing is fetched on a caller's behalf: only references into the schema itself.
        raise errors.invalid(field, "$ref may only point into the same schema (\"#/$defs/...\")")
    resolver = referencing.Registry().with_resource(
        "urn:browserplane:schema", DRAFT202012.create_resource(schema)).resolver("urn:browserplane:schema")
    for ref in refs:
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable:
            raise errors.invalid(field, f"$ref {ref[:100]!r} points at nothing in the schema") from None
    return schema


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []
