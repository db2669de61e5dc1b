"""Kubernetes Secret data found by the YAML document's structure, however far `kind: Secret` is from
the `data:` block; ConfigMaps, other documents and non-data keys stay quiet."""

from __future__ import annotations

import base64
import random

import pytest

from agent.classify import Classifier, ClassifierSettings
from agent.classify.yamlpath import DOC_REACH, in_secret_data
from tests.unit.classify import fakes

RNG = random.Random(1504)
PW = base64.b64encode((fakes.token(RNG, 10) + "#" + fakes.token(RNG, 5)).encode()).decode()
#: 40 lines of annotations (~3 KB): far more than the old 256-character window.
ANN = "\n".join(f"    note{i}: " + fakes.token(RNG, 60) for i in range(40))


@pytest.fixture(scope="module")
def k8s() -> Classifier:
    return Classifier(ClassifierSettings(entities=frozenset({"KUBERNETES_SECRET"})))


def _doc(*lines: str) -> str:
    return "\n".join(lines) + "\n"


META = ("metadata:", "  name: ledger", "  annotations:", ANN)
FOUND = {
    "kind far above": _doc("apiVersion: v1", "kind: Secret", *META, "data:", f"  password: {PW}"),
    "kind after data": _doc("apiVersion: v1", "data:", f"  password: {PW}", *META, "kind: Secret"),
    "quoted kind, stringData": _doc('kind: "Secret"', *META, "stringData:", f"  password: {PW}"),
    "item of a List": _doc(
        "kind: List",
        "items:",
        "- apiVersion: v1",
        "  kind: Secret",
        "  metadata:",
        "    annotations:",
        ANN.replace("\n", "\n  "),
        "  data:",
        f"    password: {PW}",
    ),
    "second document": _doc(
        "kind: ConfigMap", "data:", "  a: b", "---", "kind: Secret", *META, "data:", f"  token: {PW}"
    ),
    "helm template": _doc(
        "kind: Secret",
        "metadata:",
        "  name: {{ .Release.Name }}",
        "  annotations:",
        ANN,
        "data:",
        f"  password: {PW}",
    ),
}
QUIET = {
    "configmap": _doc("apiVersion: v1", "kind: ConfigMap", *META, "data:", f"  password: {PW}"),
    "secret in another document": _doc(
        "kind: Secret", "data:", "  a: b", "---", "kind: ConfigMap", "data:", f"  password: {PW}"
    ),
    "not under data": _doc("kind: Secret", "metadata:", "  labels:", f"    password: {PW}"),
    "ConfigMap item of a List": _doc(
        "kind: List",
        "items:",
        "- kind: Secret",
        "  data:",
        "    a: b",
        "- kind: ConfigMap",
        "  data:",
        f"    password: {PW}",
    ),
    "kind of a nested object": _doc(
        "kind: Deployment", "spec:", "  template:", "    kind: Secret", "data:", f"  password: {PW}"
    ),
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_secret_data_found_by_structure(k8s: Classifier, name: str) -> None:
    (d,) = fakes.detect(k8s, FOUND[name], "KUBERNETES_SECRET")
    assert d.value == PW


@pytest.mark.parametrize("name", sorted(QUIET))
def test_not_secret_data(k8s: Classifier, name: str) -> None:
    assert fakes.detect(k8s, QUIET[name], "KUBERNETES_SECRET") == []


def test_reach_is_bounded() -> None:
    """Past DOC_REACH the document is not read: a kind line further away than that is not seen."""
    pad = "\n".join(f"  n{i}: " + "x" * 70 for i in range(DOC_REACH // 70 + 10))
    text = f"kind: Secret\nmetadata:\n{pad}\ndata:\n  password: {PW}\n"
    assert not in_secret_data(text, text.index("password"))
    near = f"kind: Secret\nmetadata:\n  a: b\ndata:\n  password: {PW}\n"
    assert in_secret_data(near, near.index("password"))


def test_a_document_is_read_once_for_all_its_entries(k8s: Classifier) -> None:
    """A Secret of 2,000 entries: a pass over the document per block of entries, not per entry."""
    from agent.classify import yamlpath

    entries = [
        f"  key{i}: {base64.b64encode(fakes.token(RNG, 16).encode() + b'#1').decode()}" for i in range(2000)
    ]
    text = _doc("kind: Secret", "data:", *entries)
    yamlpath._secret_entries.cache_clear()
    found = fakes.detect(k8s, text, "KUBERNETES_SECRET")
    info = yamlpath._secret_entries.cache_info()
    assert len(found) > 1000  # most random values look like credentials; the filters drop a few
    # one pass per 16 KB block of entries (the text is ~90 KB), every other entry a cached lookup
    assert info.misses <= len(text) // yamlpath._BLOCK_CHARS + 1
    assert info.hits + info.misses >= len(found)
