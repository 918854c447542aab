"""Server-sent events out of byte parts that may cut lines, or characters, anywhere."""

from __future__ import annotations

import codecs


class SseDecoder:
    """Feeds raw bytes, returns the `data` of every event completed so far.

    SageMaker forwards a container's bytes in payload parts that ignore line boundaries,
    so nothing here assumes a part holds whole lines or whole UTF-8 characters.
    """

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self._line = ""
        self._data: list[str] = []

    def feed(self, part: bytes) -> list[str]:
        """The events this part completes (each its joined `data:` lines)."""
        events: list[str] = []
        self._line += self._text.decode(part)
        # \r\n, \r and \n all end a line (the SSE grammar); a trailing \r may be half of \r\n.
        *lines, self._line = self._line.replace("\r\n", "\n").split("\n")
        for line in lines:
            line = line.rstrip("\r")
            if not line:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
            elif line.startswith("data:"):
                self._data.append(line[5:].removeprefix(" "))
        return events

    def close(self) -> list[str]:
        """Whatever event the stream ended without a blank line after."""
        tail = self.feed(b"\n\n") if self._line or self._data else []
        self._text.decode(b"", final=True)
        return tail


class TextEventStream:
    """Server-sent events in, text deltas out; a subclass reads one event's text (and notes).

    `kept_stop`: stop strings the engine leaves in its output (TGI); they are held back and
    dropped, so every engine streams the same text.
    """

    def __init__(self, kept_stop: list[str] | None = None) -> None:
        self._events = SseDecoder()
        self._trimmer = StopTrimmer(kept_stop or [])
        self.text = ""

    def feed(self, part: bytes) -> list[str]:
        """Text deltas from one payload part (possibly none)."""
        return self._deltas(self._events.feed(part))

    def close(self) -> list[str]:
        """The deltas still held once the stream has ended."""
        deltas = self._deltas(self._events.close())
        if not self._trimmer.stopped:
            deltas += self._deltas_of(self._trimmer.flush())
        return deltas

    def event_text(self, data: str) -> str:
        """The text one event carries ("" for none); raises for a broken event."""
        raise NotImplementedError

    def _deltas(self, events: list[str]) -> list[str]:
        deltas: list[str] = []
        for data in events:
            deltas += self._deltas_of(self._trimmer.feed(self.event_text(data)))
        return deltas

    def _deltas_of(self, text: str) -> list[str]:
        self.text += text
        return [text] if text else []


class StopTrimmer:
    """Holds back text that may be the start of a stop string, and drops the stop string.

    TGI keeps a matched stop string in its output; vLLM does not. Passing TGI's tokens
    through this makes both engines stream and answer the same text.
    """

    def __init__(self, stops: list[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """The part of the text so far that can no longer turn out to be a stop string."""
        if self.stopped:
            return ""
        self._held += text
        cut = min((self._held.find(s) for s in self.stops if s in self._held), default=-1)
        if cut >= 0:
            self.stopped = True
            ready, self._held = self._held[:cut], ""
            return ready
        keep = self._partial_stop_length()
        ready = self._held[: len(self._held) - keep]
        self._held = self._held[len(ready) :]
        return ready

    def flush(self) -> str:
        """What is still held back once the stream has ended without a stop string."""
        held, self._held = self._held, ""
        return held

    def _partial_stop_length(self) -> int:
        """Length of the longest end of the held text that begins some stop string."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self._held)), longest, -1):
                if self._held.endswith(stop[:size]):
                    longest = size
                    break
        return longest


def without_stop(text: str, stops: list[str]) -> str:
    """`text` without the stop string it ends with, if any (TGI keeps the one it matched)."""
    for stop in stops:
        if stop and text.endswith(stop):
            return text[: -len(stop)]
    return text
