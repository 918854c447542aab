"""TGI's generate contract in front of the local engine, without HTTP.

Stopping rules and shapes are checked on a scripted engine, whose words the test knows; the
real model is checked only where any model would pass: limits, token accounting, shapes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local import tgi
from local.llm import Engine, LlamaEngine
from local.settings import resolve_gguf
from tests.integration.scripted import END, ScriptedEngine

LIMITS = tgi.Limits(max_input_tokens=64, max_total_tokens=96)
PROMPT = "<|im_start|>user\nCount from one to twenty in words.<|im_end|>\n<|im_start|>assistant\n"
WORDS = ["one", " two", " three", " four", " five", " six"]


@pytest.fixture(scope="module")
def model() -> LlamaEngine:
    return LlamaEngine(resolve_gguf(), n_ctx=LIMITS.max_total_tokens)


@pytest.fixture
def scripted() -> ScriptedEngine:
    return ScriptedEngine(WORDS)


def _valid(engine: Engine, inputs: str = PROMPT, **parameters: Any) -> tgi.ValidRequest:
    request = tgi.GenerateRequest(inputs=inputs, parameters=tgi.Parameters(**parameters))
    return tgi.validate(request, engine, LIMITS)


def _run(engine: Engine, valid: tgi.ValidRequest) -> tgi.Generation:
    state = tgi.Generation()
    for _ in tgi.generate(engine, valid, state):
        pass
    return state


def _rejection(engine: Engine, inputs: str = PROMPT, **parameters: Any) -> str:
    with pytest.raises(tgi.TgiError) as raised:
        _valid(engine, inputs, **parameters)
    assert raised.value.status == 422
    assert raised.value.error_type == "validation"
    return raised.value.message


def test_too_long_input_is_rejected_with_tgis_message(model: LlamaEngine) -> None:
    long_input = "word " * 80
    given = len(model.tokenize(long_input))
    assert _rejection(model, long_input, max_new_tokens=8) == (
        f"Input validation error: `inputs` must have less than 64 tokens. Given: {given}"
    )


def test_truncate_keeps_the_last_tokens(model: LlamaEngine) -> None:
    long_input = "word " * 80 + "end"
    valid = _valid(model, long_input, max_new_tokens=8, truncate=20)
    assert valid.input_ids == model.tokenize(long_input)[-20:]


def test_total_budget_is_checked_before_the_input_length(model: LlamaEngine) -> None:
    message = _rejection(model, "word " * 80, max_new_tokens=40)
    assert message.startswith("Input validation error: `inputs` tokens + `max_new_tokens` must be")


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"temperature": 0}, "`temperature` must be strictly positive"),
        ({"top_p": 1.0}, "`top_p` must be > 0.0 and < 1.0"),
        ({"top_k": 0}, "`top_k` must be strictly positive"),
        ({"max_new_tokens": 0}, "`max_new_tokens` must be strictly positive"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "`stop` supports up to 4 stop sequences. Given: 5"),
        ({"truncate": 65}, "`truncate` must be strictly positive and less than 64. Given: 65"),
    ],
)
def test_parameter_checks(
    scripted: ScriptedEngine, parameters: dict[str, Any], message: str
) -> None:
    assert _rejection(scripted, **parameters) == f"Input validation error: {message}"


def test_empty_inputs_are_rejected(scripted: ScriptedEngine) -> None:
    assert _rejection(scripted, "") == "Input validation error: `inputs` cannot be empty"


def test_bad_bodies_fail_like_tgis_json_extractor() -> None:
    with pytest.raises(tgi.TgiError) as raised:
        tgi.parse_request(b"{nope")
    assert raised.value.status == 400
    with pytest.raises(tgi.TgiError) as raised:
        tgi.parse_request(json.dumps({"parameters": {}}).encode())
    assert raised.value.status == 422
    assert "inputs" in raised.value.message


def test_greedy_unless_sampling_is_asked_for(scripted: ScriptedEngine) -> None:
    assert _valid(scripted, max_new_tokens=4).sampling.temperature == 0.0
    sampled = _valid(scripted, max_new_tokens=4, temperature=0.5, seed=7)
    assert (sampled.sampling.temperature, sampled.sampling.seed) == (0.5, 7)


def test_max_new_tokens_stops_with_length(scripted: ScriptedEngine) -> None:
    state = _run(scripted, _valid(scripted, max_new_tokens=5))

    assert state.text == "one two three four five"
    assert state.finish_reason == "length"


def test_a_stop_sequence_ends_generation_and_stays_in_the_text(scripted: ScriptedEngine) -> None:
    state = _run(scripted, _valid(scripted, max_new_tokens=24, stop=["hree"]))

    assert state.finish_reason == "stop_sequence"
    assert state.text == "one two three"
    assert len(state.tokens) == 3


def test_a_stop_sequence_spanning_tokens_is_found(scripted: ScriptedEngine) -> None:
    state = _run(scripted, _valid(scripted, max_new_tokens=24, stop=["two thr"]))

    assert state.text == "one two three"
    assert state.finish_reason == "stop_sequence"


def test_end_of_sequence_is_a_special_token_left_out_of_the_text() -> None:
    engine = ScriptedEngine(WORDS, end_after=2)

    state = _run(engine, _valid(engine, max_new_tokens=30))

    assert state.finish_reason == "eos_token"
    assert state.tokens[-1].special
    assert state.text == "one two"
    assert END not in state.text


def test_json_answer_and_stream_events_have_tgis_shape(scripted: ScriptedEngine) -> None:
    valid = _valid(scripted, max_new_tokens=3, details=True, return_full_text=True)
    state = tgi.Generation()
    events = [
        tgi.stream_event(valid, token, state) for token in tgi.generate(scripted, valid, state)
    ]
    (answer,) = tgi.response_body(valid, state)
    assert answer["generated_text"] == PROMPT + "one two three"
    details = answer["details"]
    assert details["finish_reason"] == "length"
    assert details["generated_tokens"] == 3
    assert [t["id"] for t in details["tokens"]] == [1, 2, 3]

    decoded = [json.loads(event.removeprefix(b"data:")) for event in events]
    assert all(event.endswith(b"\n\n") for event in events)
    assert [d["generated_text"] for d in decoded[:-1]] == [None, None]
    assert decoded[-1]["generated_text"] == PROMPT + "one two three"
    assert decoded[-1]["details"] == {
        "finish_reason": "length",
        "generated_tokens": 3,
        "seed": None,
        "input_length": len(valid.input_ids),
    }
    assert set(decoded[0]["token"]) == {"id", "text", "logprob", "special"}


def test_the_real_model_honours_max_new_tokens_and_reports_every_token(
    model: LlamaEngine,
) -> None:
    state = _run(model, _valid(model, max_new_tokens=5, details=True))

    # Whatever the model says: at most 5 tokens, each accounted for, a TGI finish reason.
    assert 1 <= len(state.tokens) <= 5
    if state.finish_reason == "eos_token":
        assert state.tokens[-1].special
    else:
        assert (state.finish_reason, len(state.tokens)) == ("length", 5)
    assert all(token.logprob <= 0 for token in state.tokens)
    assert state.text == "".join(t.text for t in state.tokens if not t.special)


# An answer any model can only write a few tokens of: the grammar leaves it two choices.
VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"enum": ["yes", "no"]}},
    "required": ["verdict"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "grammar",
    [
        {"type": "json", "value": VERDICT_SCHEMA},
        {"type": "json", "value": json.dumps(VERDICT_SCHEMA)},
        {"type": "json_schema", "value": {"name": "v", "schema": VERDICT_SCHEMA}},
    ],
)
def test_a_json_grammar_makes_the_real_model_answer_by_the_schema(
    model: LlamaEngine, grammar: dict[str, Any]
) -> None:
    state = _run(model, _valid(model, max_new_tokens=24, grammar=grammar))

    assert json.loads(state.text)["verdict"] in ("yes", "no")


def test_the_chat_routes_response_format_is_its_grammar(scripted: ScriptedEngine) -> None:
    chat = tgi.ChatRequest(
        messages=[{"role": "user", "content": "yes or no?"}],
        response_format=tgi.Grammar(type="json_object", value=VERDICT_SCHEMA),
    )

    valid = tgi.validate(tgi.chat_as_generate(chat, scripted), scripted, LIMITS)

    assert json.loads(valid.sampling.json_schema or "") == VERDICT_SCHEMA


@pytest.mark.parametrize(
    ("grammar", "fragment"),
    [
        ({"type": "regex", "value": "[0-9]+"}, "regex grammars are not served locally"),
        ({"type": "json", "value": "{not json"}, "grammar is not a valid JSON schema"),
        ({"type": "json", "value": 7}, "grammar is not a valid JSON schema"),
    ],
)
def test_a_grammar_that_cannot_be_followed_is_tgis_422(
    scripted: ScriptedEngine, grammar: dict[str, Any], fragment: str
) -> None:
    assert fragment in _rejection(scripted, grammar=grammar)
