"""The error message sweep: every error a test expects that a client raises (pyarrow's Arrow and Flight
errors, ADBC's errors, grpcio's) must read as one message a person can act on.

Each text it carries (its message, its arguments, and for ADBC the status message and detail
trailers the server sent) must have no Python traceback, no ``.py"`` or ``.pyx"`` path, and no
sentence of 30 or more characters said twice; and a message a server sent (one Arrow's server
appended ``. Detail: ...`` to) must carry its error id. pyarrow's client adds ``. gRPC client debug
context: <the status again>. Client context: ...`` to errors of DoGet and DoPut streams, repeating
the message: that suffix is the client's own and is removed before the checks.

:class:`Sweep` records what the tests expect (``tests/conftest.py`` wraps ``pytest.raises``) and
counts what it checked, for the run's summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

MIN_REPEATED = 30
"""Characters from which a sentence said twice counts as repeated text."""

_CLIENT_SUFFIX = re.compile(r"\. gRPC client debug context: .*", re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n")
_ERROR_ID = re.compile(r" \(error id [0-9a-f]{8}\)")
_ADBC_TRAILERS = (b"x-arrow-status-message-bin", b"x-arrow-status-detail-bin")


def texts(exc: BaseException) -> list[str] | None:
    """The texts of ``exc`` a client shows, or None when ``exc`` is not a client's error."""
    if isinstance(exc, (pa.ArrowException, flight.FlightError)):
        return [str(exc), *(arg for arg in exc.args if isinstance(arg, str))]
    details = getattr(exc, "details", None)
    if type(exc).__module__.startswith("grpc") and callable(details):  # grpcio: the status as sent
        return [str(details() or "")]
    try:
        import adbc_driver_manager
    except ImportError:  # pragma: no cover - ADBC is a test dependency
        return None
    if not isinstance(exc, adbc_driver_manager.Error):
        return None
    found = [str(exc), *(arg for arg in exc.args if isinstance(arg, str))]
    for key, value in getattr(exc, "details", None) or []:
        if key in _ADBC_TRAILERS and isinstance(value, bytes):
            found.append(value.decode("utf-8", "replace"))
    return found


def problems(text: str) -> list[str]:
    """What is wrong with one text a client shows (see the module docstring)."""
    text = _CLIENT_SUFFIX.sub("", text)
    found = [f"it holds {marker!r}" for marker in ("Traceback", '.py"', '.pyx"') if marker in text]
    sentences = [sentence.strip() for sentence in _SENTENCE_END.split(text)]
    seen: set[str] = set()
    for sentence in sentences:
        if len(sentence) >= MIN_REPEATED and sentence in seen:
            found.append(f"it says twice {sentence[:80]!r}")
            break
        seen.add(sentence)
    if ". Detail: " in text and not _ERROR_ID.search(text):
        found.append("a server sent it without an error id")
    return found


@dataclass
class Sweep:
    """What one test run expected, checked."""

    messages: int = 0
    """Texts checked."""
    errors: int = 0
    """Client errors checked (each has one text or more)."""
    with_id: int = 0
    """Client errors that carried a server's error id."""
    tests: int = 0
    """Tests that expected at least one client error."""
    _caught: list[BaseException] = field(default_factory=list)

    def recording(self, context: Any) -> Any:
        """``context`` (what ``pytest.raises`` returned), recording the exception it catches."""
        if not hasattr(context, "__exit__"):  # pytest.raises(E, func, ...) already ran: an ExceptionInfo
            self._caught.append(context.value)
            return context
        return _Recording(context, self._caught)

    def check(self) -> Iterator[str]:
        """The problems of what the current test expected (then forget it)."""
        caught, self._caught = self._caught, []
        checked = False
        for exc in caught:
            found = texts(exc)
            if found is None:
                continue
            checked = True
            self.errors += 1
            self.messages += len(found)
            self.with_id += any(_ERROR_ID.search(text) for text in found)
            for text in found:
                for problem in problems(text):
                    yield f"{type(exc).__name__}: {problem}: {text[:600]!r}"
        self.tests += checked


class _Recording:
    def __init__(self, context: Any, caught: list[BaseException]) -> None:
        self._context = context
        self._caught = caught
        self._info: Any = None

    def __enter__(self) -> Any:
        self._info = self._context.__enter__()
        return self._info

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        suppressed = bool(self._context.__exit__(exc_type, exc, tb))
        if suppressed and exc is not None:
            self._caught.append(exc)
        return suppressed
