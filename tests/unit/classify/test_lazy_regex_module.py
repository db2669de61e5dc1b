"""The third-party ``regex`` module (email, URL, IP, SSN recognizers) loads when a text first needs
it, not at start-up; the warm-up loads it before workers fork."""

from __future__ import annotations

from tests.helpers import python_json

ANALYZE = """
import json, sys
from agent.pipeline import build_pipeline
classifier = build_pipeline(None, b"k" * 32, warm_up=False).classifier  # as `scan` builds it
found = {}
loaded = {"built": "regex" in sys.modules}
for i, text in enumerate(sys.argv[1:]):
    found[i] = sorted({r.entity_type for r in classifier.analyze_text(text)})
    loaded[i] = "regex" in sys.modules
print(json.dumps({"loaded": loaded, "found": found}))
"""


def test_regex_loads_with_the_first_text_that_needs_it() -> None:
    quiet = "Card on file: 4111 1111 1111 1111, exp 12/29."
    mail = "Write to anna.muster@example.com or see https://intranet.example.org/x"
    got = python_json(ANALYZE, quiet, mail)
    assert got["loaded"] == {"built": False, "0": False, "1": True}
    assert "CREDIT_CARD" in got["found"]["0"]
    assert "EMAIL_ADDRESS" in got["found"]["1"]


WARM = """
import json, sys
from agent.pipeline import build_pipeline
pipeline = build_pipeline(None, b"k" * 32, warm_up=False)
before = "regex" in sys.modules
pipeline.warm_up()
print(json.dumps([before, "regex" in sys.modules]))
"""


def test_warm_up_loads_regex_before_workers_fork() -> None:
    assert python_json(WARM) == [False, True]
