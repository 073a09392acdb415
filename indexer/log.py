"""One structured logger for the indexer (Powertools: JSON lines with the service name).

Structured keys are passed as keyword arguments (`logger.warning("...", key=key)`), and Python's
logging puts them on the `LogRecord`.  A key that is already a `LogRecord` attribute (`name`,
`msg`, `args`, `module`, `filename`, `lineno`, ...) or one of the two logging adds while
formatting (`message`, `asctime`) makes `Logger.makeRecord` raise `KeyError("Attempt to
overwrite ...")`: the log call itself raises, in whatever error path it was reporting.  That is
how one wheel once blocked its whole project.

`SafeLogger` makes that impossible by construction: every colliding key is *prefixed* with
`extra_` (so `name=` is logged as `"extra_name"`).  Prefixing rather than refusing, because a
refusal can only be an exception (the very failure being prevented) or a silent drop (losing the
value a reader of the log needs); the prefixed key still carries the value into the JSON line.
The same goes for the keys Powertools' formatter owns (`level`, `location`, `timestamp`,
`service`, ...), which it would otherwise drop or let an extra key overwrite silently.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import RESERVED_LOG_ATTRS

PREFIX = "extra_"

# Derived from logging itself, not hand-listed: the attributes of a LogRecord, plus the two
# `Logger.makeRecord` also refuses (logging/__init__.py: `key in ["message", "asctime"]`).
LOG_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}
# Keys Powertools' formatter writes itself: its reserved list, and the exception fields it adds
# in `LambdaPowertoolsFormatter.format` (an extra key of that name would replace the traceback).
FORMATTER_KEYS = frozenset(RESERVED_LOG_ATTRS) | {"exception", "exception_name", "stack_trace"}
RESERVED = LOG_RECORD_ATTRIBUTES | FORMATTER_KEYS


def _safe(level: str, **defaults: Any) -> Any:
    """Powertools' `Logger.<level>`, with its structured keys made safe first.

    `msg` is positional-only, so `msg=...` is a structured key (prefixed) and not a TypeError.
    The method adds one frame, so `stacklevel` is one more than Powertools' default: the
    "location" of a line stays the caller's, not this module's.
    """
    parent = getattr(Logger, level)

    def method(self: SafeLogger, msg: object, /, *args: object, extra: Any = None, **kwargs: Any) -> None:
        options = _options(kwargs, stacklevel=3, **defaults)
        parent(self, msg, *args, extra=self._safe_keys(extra, kwargs), **options)

    method.__name__ = method.__qualname__ = level
    return method


class SafeLogger(Logger):
    """A Powertools Logger whose structured keys can never collide with logging's own."""

    def _safe_keys(self, extra: Mapping[str, object] | None, kwargs: dict[str, object]) -> dict[str, object]:
        taken = RESERVED | self.registered_formatter.get_current_keys().keys()
        given = {**(extra or {}), **kwargs}
        # Keys that are free keep their names; only the colliding ones move, past any free key.
        safe = {key: value for key, value in given.items() if key not in taken}
        for key, value in given.items():
            if key in taken:
                while key in taken or key in safe:
                    key = PREFIX + key
                safe[key] = value
        return safe

    debug = _safe("debug")
    info = _safe("info")
    warning = _safe("warning")
    error = _safe("error")
    critical = _safe("critical")
    exception = _safe("exception", exc_info=True)

    def append_keys(self, **additional_keys: object) -> None:
        # Persistent keys go to the formatter, not the LogRecord, but the same names would
        # overwrite the formatter's own fields; prefixed the same way.
        super().append_keys(**self._safe_keys(None, dict(additional_keys)))


def _options(kwargs: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    """Pop logging's own keyword arguments out of the structured keys."""
    for option in ("exc_info", "stack_info"):
        if option in kwargs:
            defaults[option] = kwargs.pop(option)
    if "stacklevel" in kwargs:
        defaults["stacklevel"] = int(kwargs.pop("stacklevel")) + 1  # our frame, as above
    return defaults


logger = SafeLogger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "pypi-edge-indexer"))
