"""A writer for the AWS event stream framing that InvokeEndpointWithResponseStream answers with."""

from __future__ import annotations

import json
import struct
import zlib

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING_HEADER = 7
# Total length, headers length and the prelude's own CRC32.
_PRELUDE = struct.Struct(">II")


def _crc32(data: bytes, start: int = 0) -> int:
    return zlib.crc32(data, start) & 0xFFFFFFFF


def _encode_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING_HEADER, len(raw_value))
        + raw_value
    )


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One framed message: prelude, prelude CRC, string headers, payload, message CRC."""
    header_bytes = b"".join(_encode_header(name, value) for name, value in headers.items())
    total_length = _PRELUDE.size + 4 + len(header_bytes) + len(payload) + 4
    prelude = _PRELUDE.pack(total_length, len(header_bytes))
    body = prelude + struct.pack(">I", _crc32(prelude)) + header_bytes + payload
    return body + struct.pack(">I", _crc32(body))


def payload_part(data: bytes) -> bytes:
    """A `PayloadPart` event carrying raw bytes from the model container."""
    return encode_message(
        {
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        data,
    )


def stream_exception(kind: str, message: str, error_code: str | None = None) -> bytes:
    """An exception event (`ModelStreamError`, `InternalStreamFailure`) that ends the stream."""
    body: dict[str, str] = {"Message": message}
    if error_code is not None:
        body["ErrorCode"] = error_code
    return encode_message(
        {
            ":exception-type": kind,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps(body).encode("utf-8"),
    )


class Misaligner:
    """Re-cuts a byte stream so that parts do not end where the model's lines end.

    SageMaker forwards container bytes in parts that ignore line boundaries; sending each
    chunk's second half with the next chunk's first half makes clients prove they buffer.
    """

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, chunk: bytes) -> bytes:
        """The bytes to send now for this chunk (the rest waits for the next one)."""
        cut = (len(chunk) + 1) // 2
        part, self._carry = self._carry + chunk[:cut], chunk[cut:]
        return part

    def flush(self) -> bytes:
        """Whatever is still held back, at the end of the stream."""
        part, self._carry = self._carry, b""
        return part
