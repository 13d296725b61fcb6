"""Aggregate: the recap as JSON text, assembled from calls encoded one by one (extension process).

A recap can hold thousands of calls, and the time the extension spends after the runtime's
response is billed to the function. So every call is encoded once, when it arrives (see
encoded_call.py), and an `EncodedRecap` keeps the invocation's fields and the calls' JSON
pieces side by side:

- every sink that wants JSON shares one `line()`, built once by joining the pieces;
- a sink with a size limit (CloudWatch's 256 KiB event, Kinesis's 1 MiB record) cuts the
  calls by their summed sizes (`with_calls`) instead of re-encoding the recap per guess;
- the few readers that want the calls as objects (the OTLP sink, tests) decode them on demand.

An `EncodedRecap` reads like the recap's JSON object (`recap["summary"]`, `recap.get("hint")`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from json import JSONEncoder
    from typing import Any

    from httprecap.recap_schema import Recap, RecapCall

    _EncodedRecapBase = Mapping[str, Any]
else:
    _EncodedRecapBase = Mapping

# One encoder for everything: json.dumps with options builds a new encoder per call, which
# costs more than encoding a small call record. Made when first needed: `json` (and the `re`
# it imports) is kept off the start-up path (see lambda_api/extensions.py).
_encoder: list[JSONEncoder] = []
# json's C string quoter (as the encoder uses it, ensure_ascii off), once `json` is loaded.
quote: Callable[[str], str] | None = None
# The recap's unbounded lists, written last and in this order, whatever order the fields were
# added in: Logs Insights discovers only the first 200 flattened fields of a JSON event, and
# every field a fleet query reads must be among them however many calls there are.
TAIL = ("findings", "calls")


def compact_json(value: Any) -> str:
    return (_encoder or load_json())[0].encode(value)


def load_json() -> list[JSONEncoder]:
    """Import `json` and make the encoder (the warm-up calls it; so does the first use)."""
    global quote  # noqa: PLW0603 (set once, read on every call's encoding)
    import json

    if not _encoder:
        quote = json.encoder.encode_basestring
        _encoder.append(json.JSONEncoder(separators=(",", ":"), ensure_ascii=False))
    return _encoder


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


class EncodedRecap(_EncodedRecapBase):
    """One recap: its fields in schema order (`calls` empty) and its calls as JSON pieces."""

    __slots__ = ("_calls", "_fields_json", "_line", "_lock", "fields", "pieces", "sizes")

    def __init__(self, fields: Recap, pieces: list[str], sizes: list[int],
                 calls: list[RecapCall] | None = None) -> None:
        self.fields = fields  # `calls` is [] here: the calls are `pieces`; fixed once shipped
        self.pieces = pieces  # each call's JSON, in recap order
        self.sizes = sizes  # each piece's UTF-8 size
        self._calls = calls  # the calls as objects, once someone asked for them
        self._fields_json: str | None = None
        self._line: str | None = None
        self._lock = threading.Lock()  # sinks run on their own threads; encode once

    @classmethod
    def from_dict(cls, recap: Recap) -> EncodedRecap:
        """A recap given as one JSON object (tests, tools): its calls are encoded here."""
        calls = list(recap.get("calls") or [])
        pieces = [compact_json(call) for call in calls]
        return cls({**recap, "calls": []}, pieces, [utf8_size(p) for p in pieces], calls)

    # ------------------------------------------------------------- read like a JSON object

    def __getitem__(self, name: str) -> Any:
        if name == "calls":
            return self.calls
        fields: Mapping[str, Any] = self.fields  # looked up by any name, as a mapping is
        return fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self.fields else default

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __iter__(self) -> Iterator[str]:
        """The field names in the order `line()` writes them (see TAIL)."""
        names = [name for name in self.fields if name not in TAIL]
        return iter(names + [name for name in TAIL if name in self.fields])

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def calls(self) -> list[RecapCall]:
        if self._calls is None:
            import json

            self._calls = json.loads("[" + ",".join(self.pieces) + "]")
        return self._calls

    def as_dict(self) -> Recap:
        """The recap as one object, its fields in the order `line()` writes them."""
        whole: dict[str, Any] = {name: self.fields[name] for name in self}  # type: ignore[literal-required]
        whole["calls"] = self.calls
        return whole  # type: ignore[return-value]

    # --------------------------------------------------------------------------- as JSON

    def line(self) -> str:
        """The whole recap as one line of JSON, built once whichever sink asks first."""
        with self._lock:
            if self._line is None:
                self._line = self._join(self._frame(), len(self.pieces))
            return self._line

    @property
    def size(self) -> int:
        """UTF-8 size of `line()`, without building it."""
        with self._lock:
            frame = self._frame()
        calls_slot = len(',"calls":[]')  # what _join adds to the frame besides the pieces
        return utf8_size(frame) + calls_slot + sum(self.sizes) + max(len(self.sizes) - 1, 0)

    def with_calls(self, kept: int, extra: Mapping[str, Any]) -> str:
        """The line with only the first `kept` calls, and `extra` fields added."""
        return self._join(_encode_frame({**self.fields, **extra}), kept)

    def _frame(self) -> str:
        """The fields as JSON, without `calls` (the caller holds the lock)."""
        if self._fields_json is None:
            self._fields_json = _encode_frame(self.fields)
        return self._fields_json

    def _join(self, frame: str, kept: int) -> str:
        return "".join((frame[:-1], ',"calls":[', ",".join(self.pieces[:kept]), "]}"))


def _encode_frame(fields: Mapping[str, Any]) -> str:
    """The fields but `calls` as one JSON object, `findings` last (see TAIL)."""
    head = {name: value for name, value in fields.items() if name not in TAIL}
    frame = compact_json(head)
    if "findings" in fields:
        frame = f'{frame[:-1]},"findings":{compact_json(fields["findings"])}}}'
    return frame
