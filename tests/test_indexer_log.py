"""Logging cannot raise: structured keys that collide with logging's own are prefixed, not fatal."""

from __future__ import annotations

import io
import json
import logging

import pytest

from indexer.log import LOG_RECORD_ATTRIBUTES, PREFIX, RESERVED, SafeLogger


@pytest.fixture
def log(request: pytest.FixtureRequest) -> tuple[SafeLogger, io.StringIO]:
    # Powertools shares one stdlib logger per service name: one name per test, one stream each.
    stream = io.StringIO()
    service = f"log-test-{request.node.name}"
    return SafeLogger(service=service, logger_handler=logging.StreamHandler(stream)), stream


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_reserved_keys_are_every_logrecord_attribute():
    record = logging.LogRecord("n", logging.INFO, "p", 1, "m", (), None)
    assert set(vars(record)) <= LOG_RECORD_ATTRIBUTES
    assert {"name", "msg", "args", "module", "filename", "lineno", "levelname", "exc_info"} <= RESERVED
    assert {"message", "asctime"} <= RESERVED  # refused by Logger.makeRecord, not on the record


def test_every_logrecord_attribute_is_refused_by_plain_logging():
    # The premise: each of these keys makes the standard library raise inside the log call.
    plain = logging.getLogger("plain-log-test")
    for key in sorted(LOG_RECORD_ATTRIBUTES):
        with pytest.raises(KeyError, match="Attempt to overwrite"):
            plain.makeRecord("plain", logging.INFO, "f", 1, "m", (), None, extra={key: 1})


@pytest.mark.parametrize("key", sorted(RESERVED - {"exc_info", "stack_info"}))
def test_a_colliding_key_does_not_raise_and_its_value_is_in_the_json_line(log, key):
    logger, stream = log
    logger.warning("colliding", **{key: "the-value", "key": "demo/x.whl"})
    (line,) = lines(stream)
    assert line["message"] == "colliding"
    assert line["level"] == "WARNING"
    assert line[PREFIX + key] == "the-value"
    assert line["key"] == "demo/x.whl"


def test_the_issue_10_call_logs_the_name_prefixed(log):
    logger, stream = log
    logger.warning("metadata Name does not match the file name", key="kappa/k.whl", name="other")
    (line,) = lines(stream)
    assert line["extra_name"] == "other"
    assert line["service"].startswith("log-test")


def test_a_key_colliding_after_prefixing_is_prefixed_again(log):
    logger, stream = log
    logger.info("twice", name="a", extra_name="b")
    (line,) = lines(stream)
    # The key the caller chose keeps its name; the colliding one moves past it.
    assert (line["extra_name"], line["extra_extra_name"]) == ("b", "a")


def test_extra_dict_keys_are_made_safe_too(log):
    # exc_info and stack_info as keyword arguments are logging's options; in `extra` they are keys.
    logger, stream = log
    logger.error("via extra", extra={"msg": "x", "lineno": 7, "exc_info": "e", "stack_info": "s"})
    (line,) = lines(stream)
    assert (line["extra_msg"], line["extra_lineno"]) == ("x", 7)
    assert (line["extra_exc_info"], line["extra_stack_info"]) == ("e", "s")


def test_every_level_is_safe_and_keeps_the_callers_location(log):
    logger, stream = log
    logger.setLevel("DEBUG")
    for method in (logger.debug, logger.info, logger.warning, logger.error, logger.critical):
        method("m", module="x")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed", filename="f.whl")
    got = lines(stream)
    assert [g["level"] for g in got] == ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "ERROR"]
    assert all(g["extra_module"] == "x" for g in got[:5])
    assert got[5]["extra_filename"] == "f.whl"
    assert got[5]["exception_name"] == "ValueError"
    # stacklevel is one more than Powertools' default: the location is this test, not log.py.
    assert all(g["location"].startswith("test_every_level_is_safe") for g in got)


def test_logging_options_are_not_structured_keys(log):
    logger, stream = log
    logger.warning("with options", exc_info=False, stack_info=False, stacklevel=1, key="k")
    (line,) = lines(stream)
    assert "exc_info" not in line and "extra_exc_info" not in line
    assert line["key"] == "k"


def test_appended_keys_cannot_overwrite_the_formatters_own(log):
    logger, stream = log
    logger.append_keys(level="loud", request="r1")
    logger.info("appended")
    (line,) = lines(stream)
    assert line["level"] == "INFO"
    assert (line["extra_level"], line["request"]) == ("loud", "r1")
