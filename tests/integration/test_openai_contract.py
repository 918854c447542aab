"""vLLM's OpenAI contract in front of the local engine, without HTTP.

Stopping rules on a scripted engine (its words are known), the chat template and limits
on the real model where any model would pass.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from local import llm, openai_api
from local.llm import Cancel, Engine, LlamaEngine, Sampling
from local.settings import resolve_gguf
from tests.integration.scripted import ScriptedEngine, sse_data

MAX_MODEL_LEN = 96
SERVED = "org/model"
WORDS = ["one", " two", " three", " four", " five", " six"]


@pytest.fixture(scope="module")
def model() -> LlamaEngine:
    return LlamaEngine(resolve_gguf(), n_ctx=MAX_MODEL_LEN)


def _valid(engine: Engine, body: dict[str, Any]) -> openai_api.ValidRequest:
    request = openai_api.parse_request(json.dumps(body).encode())
    return openai_api.validate(request, engine, MAX_MODEL_LEN, SERVED)


def _run(engine: Engine, valid: openai_api.ValidRequest) -> tuple[openai_api.Completion, list[str]]:
    state = openai_api.Completion()
    deltas = list(openai_api.generate(engine, valid, state, threading.Event()))
    return state, deltas


def completion(**fields: Any) -> dict[str, Any]:
    return {"prompt": "Count:", **fields}


def _error(engine: Engine, body: dict[str, Any]) -> openai_api.OpenAiError:
    with pytest.raises(openai_api.OpenAiError) as raised:
        _valid(engine, body)
    return raised.value


def test_a_body_with_messages_is_a_chat_and_with_a_prompt_a_completion() -> None:
    engine = ScriptedEngine(WORDS)

    chat = _valid(engine, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    text = _valid(engine, completion())

    assert (chat.kind, text.kind) == ("chat", "completion")
    # vLLM's completions default to 16 new tokens; chat to what the context has left.
    assert text.max_tokens == 16
    no_limit = _valid(engine, {"messages": [{"role": "user", "content": "hi"}]})
    assert no_limit.max_tokens == MAX_MODEL_LEN - len(no_limit.input_ids)


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        (b"{nope", None, "JSON decode error"),
        ({"inputs": "TGI's contract"}, None, "Cannot find suitable handler"),
        (completion(max_tokens=200), "max_tokens", "cannot be greater than max_model_len=96"),
        (
            completion(prompt="word " * 90, max_tokens=10),
            "input_tokens",
            "maximum context length is 96",
        ),
        (completion(stream_options={"include_usage": True}), "stream", "only be defined when"),
        (completion(temperature=-1), "temperature", "non-negative"),
        (completion(top_p=0), "top_p", "(0, 1]"),
        (completion(model="other/model"), "model", "does not exist"),
        (
            completion(response_format={"type": "json_schema", "json_schema": {"name": "x"}}),
            None,
            "must be a JSON schema",
        ),
        (
            completion(response_format={"type": "json_schema", "json_schema": {"schema": 3}}),
            None,
            "must be a JSON schema",
        ),
    ],
)
def test_rejections_are_vllms_400s(body: Any, param: str | None, fragment: str) -> None:
    engine = ScriptedEngine(WORDS)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(openai_api.OpenAiError) as raised:
        openai_api.validate(openai_api.parse_request(raw), engine, MAX_MODEL_LEN, SERVED)

    error = raised.value.body()["error"]
    assert error["param"] == param
    assert fragment in error["message"]
    assert error["code"] == (404 if param == "model" else 400)


def test_max_tokens_ends_with_length() -> None:
    engine = ScriptedEngine(WORDS)

    state, deltas = _run(engine, _valid(engine, completion(max_tokens=4)))

    assert "".join(deltas) == state.text == "one two three four"
    assert (state.finish_reason, state.tokens) == ("length", 4)


def test_a_stop_string_is_left_out_and_never_sent_in_part() -> None:
    engine = ScriptedEngine(WORDS)

    state, deltas = _run(engine, _valid(engine, completion(max_tokens=20, stop=[" three f"])))

    assert state.text == "one two"
    assert state.finish_reason == "stop"
    # " three" could have been the start of the stop string: it was held back, then dropped.
    assert deltas == ["one", " two"]


def test_a_held_back_prefix_that_was_no_stop_is_sent() -> None:
    engine = ScriptedEngine(WORDS)

    state, deltas = _run(engine, _valid(engine, completion(max_tokens=4, stop=[" three x"])))

    assert "".join(deltas) == state.text == "one two three four"


def test_end_of_generation_is_stop_unless_ignored() -> None:
    engine = ScriptedEngine(WORDS, end_after=2)

    ended, _ = _run(engine, _valid(engine, completion(max_tokens=10)))
    ignored, _ = _run(engine, _valid(engine, completion(max_tokens=10, ignore_eos=True)))

    assert (ended.text, ended.finish_reason) == ("one two", "stop")
    # ignore_eos makes the length independent of where the model would have ended.
    assert (ignored.tokens, ignored.finish_reason) == (10, "length")


def test_stream_chunks_usage_and_done() -> None:
    engine = ScriptedEngine(WORDS)
    valid = _valid(
        engine,
        {
            "messages": [{"role": "user", "content": "count"}],
            "max_tokens": 3,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    writer = openai_api.StreamWriter(valid)
    state = openai_api.Completion()
    raw = writer.first()
    for delta in openai_api.generate(engine, valid, state, threading.Event()):
        raw += writer.delta(delta)
    raw += writer.end(state)

    assert raw.startswith(b"data: {")
    *chunks, usage, done = sse_data(raw.decode().split("\n\n"))
    assert done == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "one two three"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 3
    assert usage["usage"]["prompt_tokens"] == len(valid.input_ids)


def test_the_real_models_chat_template_frames_the_messages(model: LlamaEngine) -> None:
    valid = _valid(
        model,
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            "max_tokens": 4,
            "temperature": 0,
        },
    )
    rendered = model.format_chat(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    )

    assert valid.input_ids == model.tokenize(rendered, add_special=False)
    assert "Be brief." in rendered
    assert rendered.rstrip().endswith("assistant")
    state, deltas = _run(model, valid)
    assert 1 <= state.tokens <= 4
    assert "".join(deltas) == state.text
    assert state.finish_reason in {"stop", "length"}
    body = openai_api.response_body(valid, state)
    assert body["object"] == "chat.completion"
    assert body["usage"]["completion_tokens"] == state.tokens


VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"enum": ["yes", "no"]}, "sure": {"type": "boolean"}},
    "required": ["verdict", "sure"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("response_format", "check"),
    [
        (
            {"type": "json_schema", "json_schema": {"name": "v", "schema": VERDICT_SCHEMA}},
            lambda answer: set(answer) == {"verdict", "sure"},
        ),
        ({"type": "json_object"}, lambda answer: isinstance(answer, dict)),
    ],
)
def test_response_format_makes_the_real_model_answer_in_json(
    model: LlamaEngine, response_format: dict[str, Any], check: Any
) -> None:
    body = {
        "messages": [{"role": "user", "content": "Is water wet? Answer in JSON."}],
        "max_tokens": 40,
        "response_format": response_format,
    }
    state, _ = _run(model, _valid(model, body))

    # Any model must write JSON here; a free object may still be cut by max_tokens.
    if state.finish_reason == "stop":
        assert check(json.loads(state.text))
    else:
        assert state.text.lstrip().startswith("{")


def test_a_text_response_format_adds_no_grammar() -> None:
    body = completion(response_format={"type": "text"})

    assert _valid(ScriptedEngine(WORDS), body).sampling.json_schema is None


class CancelOnLook(Cancel):
    """A cancellation the caller sends just before the engine's `looks`-th look at it."""

    def __init__(self, looks: int) -> None:
        super().__init__()
        self.looks = looks

    def is_set(self) -> bool:
        self.looks -= 1
        if self.looks == 0:
            self.set()
        return super().is_set()


def test_the_engine_looks_for_a_cancellation_between_prompt_batches(
    model: LlamaEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches small enough for several in this test's short context.
    monkeypatch.setattr(llm, "PREFILL_BATCH", 16)
    prompt = model.tokenize("moth " * 80)
    cancel = CancelOnLook(looks=3)
    cancel.stats = {}

    tokens = list(model.generate(prompt, Sampling(), cancel))

    # Two batches read, then the cancellation seen: nothing generated.
    assert tokens == []
    assert cancel.seen is not None
    assert cancel.stats["cancelled"] == cancel.seen
    assert cancel.seen["phase"] == "prefill"
    assert cancel.seen["prompt_tokens_done"] == 2 * 16
    assert cancel.seen["prompt_tokens"] == len(prompt)


def test_a_cancellation_while_decoding_is_recorded_as_such(model: LlamaEngine) -> None:
    prompt = model.tokenize("Count:")
    # Looks: per prompt batch and after the prompt, then one per token.
    cancel = CancelOnLook(looks=4)

    # Past an end-of-generation token too, so the model's words cannot end it first.
    tokens = list(model.generate(prompt, Sampling(), cancel, stop_at_end=False))

    assert cancel.seen is not None
    assert cancel.seen["phase"] == "decode"
    assert cancel.seen["generated_tokens"] == len(tokens) >= 1
