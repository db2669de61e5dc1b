"""structlog loads without asyncio (and ssl) at start-up; its async loggers still work, and a later
``import asyncio`` gets the real module."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from agent.cli import _ImportedOnUse
from tests.helpers import python_json

ASYNC_LOGGER = """
import io, json, logging, sys
from agent.cli import import_structlog_without_rich
import_structlog_without_rich()
import structlog
loaded_after_structlog = "asyncio" in sys.modules or "ssl" in sys.modules
import asyncio
real = sys.modules["asyncio"] is asyncio and asyncio.__spec__ is not None and hasattr(asyncio, "run")
stream = io.StringIO()
handler = logging.StreamHandler(stream)
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.INFO)
structlog.configure(
    processors=[structlog.processors.JSONRenderer()],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
)
async def main():
    await structlog.get_logger("t").ainfo("async_event_logged", n=7)  # BoundLogger's a* methods
    render = [structlog.processors.JSONRenderer()]
    bound = structlog.stdlib.AsyncBoundLogger(logging.getLogger("u"), render, {})
    await bound.info("async_bound_logged", n=8)
asyncio.run(main())
print(json.dumps({"early": loaded_after_structlog, "real": real, "log": stream.getvalue()}))
"""


def test_structlog_loads_without_asyncio_and_its_async_logger_still_works() -> None:
    got = python_json(ASYNC_LOGGER)
    assert got["early"] is False
    assert got["real"] is True
    lines = [json.loads(line) for line in got["log"].splitlines()]
    assert lines == [{"n": 7, "event": "async_event_logged"}, {"n": 8, "event": "async_bound_logged"}]


SCAN = """
import json, sys
from agent.cli import main
code = main(["scan", sys.argv[1], "--format", "jsonl", "-o", sys.argv[2], "--no-progress", "--jobs", "1"])
print(json.dumps({"code": code, "asyncio": "asyncio" in sys.modules, "ssl": "ssl" in sys.modules}))
"""


def test_a_scan_never_imports_asyncio(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())  # a fresh throw-away key: the finding shows it scanned
    doc = tmp_path / "key.txt"
    doc.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    out = tmp_path / "out.jsonl"
    env = {"PATH": "/usr/bin:/bin", "XDG_STATE_HOME": str(tmp_path / "state"), "HOME": str(tmp_path)}
    got = python_json(SCAN, str(doc), str(out), env=env)
    assert got == {"code": 1, "asyncio": False, "ssl": False}  # 1: a finding at or above --fail-on
    assert '"entity": "PRIVATE_KEY"' in out.read_text()


def test_the_stand_in_is_no_module_while_it_hides_the_real_one() -> None:
    name = "agent_test_never_a_module"
    stand_in = _ImportedOnUse(name)
    sys.modules[name] = stand_in
    try:
        with pytest.raises(AttributeError):
            stand_in.anything  # noqa: B018 - no recursion into itself, no import of the stand-in
    finally:
        del sys.modules[name]
    with pytest.raises(AttributeError):
        stand_in.__path__  # noqa: B018 - the import system's probes are not delegated
    json_stand_in = _ImportedOnUse("json")
    assert json_stand_in.dumps is json.dumps
