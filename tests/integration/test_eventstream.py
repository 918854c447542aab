"""The event-stream writer, checked with botocore's own parser and the real service model."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.eventstream import ChecksumMismatch, EventStream, EventStreamBuffer, EventStreamError
from botocore.parsers import EventStreamJSONParser

from local import eventstream


class _RawStream:
    """Stands in for urllib3's response: botocore only calls `stream()`."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def stream(self) -> list[bytes]:
        return self._chunks

    def close(self) -> None:
        pass


def _response_stream(data: bytes, cut: int = 7) -> EventStream:
    """botocore's EventStream for InvokeEndpointWithResponseStream over `data` in pieces."""
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    output = model.operation_model("InvokeEndpointWithResponseStream").output_shape
    chunks = [data[i : i + cut] for i in range(0, len(data), cut)]
    return EventStream(
        _RawStream(chunks),
        output.members["Body"],
        EventStreamJSONParser(),
        "InvokeEndpointWithResponseStream",
    )


def test_botocore_decodes_headers_payload_and_checksums() -> None:
    message = eventstream.encode_message({":event-type": "PayloadPart", "x": "ünï"}, b"abc\n")
    buffer = EventStreamBuffer()
    buffer.add_data(message)
    (decoded,) = list(buffer)
    assert decoded.headers == {":event-type": "PayloadPart", "x": "ünï"}
    assert decoded.payload == b"abc\n"


def test_a_corrupted_byte_fails_the_message_checksum() -> None:
    message = bytearray(eventstream.payload_part(b"hello"))
    message[-6] ^= 0xFF
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(message))
    with pytest.raises(ChecksumMismatch):
        list(buffer)


def test_payload_parts_parse_as_the_service_models_events() -> None:
    parts = [b'data:{"a":1}\n', b"\ndata:", b"{}\n\n", b""]
    data = b"".join(eventstream.payload_part(part) for part in parts)
    events: list[dict[str, Any]] = list(_response_stream(data))
    assert [event["PayloadPart"]["Bytes"] for event in events] == parts


def test_a_stream_exception_raises_model_stream_error() -> None:
    data = eventstream.payload_part(b"data:") + eventstream.stream_exception(
        "ModelStreamError", "boom", "ModelStreamError"
    )
    events = iter(_response_stream(data))
    assert next(events) == {"PayloadPart": {"Bytes": b"data:"}}
    with pytest.raises(EventStreamError) as raised:
        next(events)
    assert raised.value.response["Error"] == {"Code": "ModelStreamError", "Message": "boom"}


def test_misaligner_keeps_every_byte_and_never_cuts_at_a_line_end() -> None:
    lines = [f'data:{{"token":{i}}}\n\n'.encode() for i in range(5)]
    cutter = eventstream.Misaligner()
    parts = [cutter.feed(line) for line in lines] + [cutter.flush()]
    assert b"".join(parts) == b"".join(lines)
    # Every part but the final flush ends inside a line.
    assert not any(part.endswith(b"\n\n") for part in parts[:-1])
