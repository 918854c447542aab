"""Splitting byte parts into server-sent events, and holding back stop strings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rag_app.services.sse import SseDecoder, StopTrimmer


def test_events_from_lines_with_either_line_ending() -> None:
    decoder = SseDecoder()

    events = decoder.feed(
        b"data: one\r\n\r\ndata:two\n: a comment\nevent: x\n\ndata: a\ndata: b\n\n"
    )

    assert events == ["one", "two", "a\nb"]


def test_a_stream_ending_without_a_blank_line_still_gives_its_event() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: last") == []
    assert decoder.close() == ["last"]


@given(
    st.lists(
        # Any text a model could send: UTF-8 has no lone surrogates, and lines end events.
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
            max_size=20,
        ),
        max_size=8,
    ),
    st.integers(min_value=1, max_value=9),
)
def test_any_cut_of_the_bytes_gives_the_same_events(datas: list[str], size: int) -> None:
    stream = b"".join(f"data: {data}\n\n".encode() for data in datas)
    decoder = SseDecoder()

    events = []
    for start in range(0, len(stream), size):
        events += decoder.feed(stream[start : start + size])
    events += decoder.close()

    assert events == datas


@given(st.lists(st.text(max_size=5), max_size=12), st.sampled_from(["##", "\nUser:", "</s>"]))
def test_trimmer_output_is_the_text_up_to_the_first_stop(pieces: list[str], stop: str) -> None:
    trimmer = StopTrimmer([stop])

    sent = "".join(trimmer.feed(piece) for piece in pieces)
    if not trimmer.stopped:
        sent += trimmer.flush()

    text = "".join(pieces)
    assert sent == (text[: text.index(stop)] if stop in text else text)
