"""Recognizers compile their regexes at first use, not when the classifier is built.

A one-file scan reaches few of the packs' two hundred credential formats; compiling all of them up
front was most of `dropwarden scan`'s start-up (issue #19). These tests check the laziness itself and
that a lazily compiled recognizer still finds what it found before.
"""

from __future__ import annotations

import re

import pytest

from agent.classify import Classifier, ClassifierSettings
from agent.classify.recognizers.base import DwPatternRecognizer
from agent.classify.recognizers.custom import SpecRecognizer
from agent.models import FileRef, RecognizerSpec, TextChunk
from agent.pipeline import build_pipeline


def _token(prefix: str, entity: str) -> RecognizerSpec:
    """A pack-style token format with its prefilter trigger."""
    regex = rf"(?-i:\b{prefix}_[A-Za-z0-9]{{16}}\b)"
    return RecognizerSpec(prefix, entity, ((prefix, regex, 0.7),), trigger=f"{prefix}_", max_len=20)


_TOKEN = _token("itk", "INTERNAL_TOKEN")
_OTHER = _token("otk", "OTHER_TOKEN")


def _spec_recognizers(c: Classifier) -> dict[str, SpecRecognizer]:
    return {r.name: r for r in c._ours if isinstance(r, SpecRecognizer)}


def _found(c: Classifier, text: str) -> list[tuple[str, str]]:
    return [(d.entity, d.value) for d in c.detect(TextChunk(path="/x", member=None, text=text))]


def test_pack_regex_compiles_when_its_trigger_first_fires() -> None:
    c = Classifier(
        ClassifierSettings(entities=frozenset({"INTERNAL_TOKEN", "OTHER_TOKEN"}), custom=(_TOKEN, _OTHER))
    )
    recs = _spec_recognizers(c)
    assert recs["itk"]._compiled_cache is None
    assert recs["otk"]._compiled_cache is None
    assert _found(c, "nothing to see here") == []
    assert recs["itk"]._compiled_cache is None  # no trigger hit: still not compiled
    assert _found(c, "key itk_Qw8rT2zLp5Xm9Vb3 end") == [("INTERNAL_TOKEN", "itk_Qw8rT2zLp5Xm9Vb3")]
    assert recs["itk"]._compiled_cache is not None
    assert recs["otk"]._compiled_cache is None  # only the recognizer whose trigger fired


def test_lazy_pack_regex_runs_on_re2_when_it_can() -> None:
    """The engine choice is unchanged: RE2 for what it can express, ``re`` for lookarounds."""
    look = RecognizerSpec(name="look", entity="LOOK", patterns=(("l", r"(?<![a-z])lk_\d{4}", 0.7),))
    c = Classifier(ClassifierSettings(entities=frozenset({"INTERNAL_TOKEN", "LOOK"}), custom=(_TOKEN, look)))
    recs = _spec_recognizers(c)
    assert type(recs["itk"]._compiled[0][1]).__module__.startswith("re2")
    assert type(recs["look"]._compiled[0][1]).__module__ == "re"


def test_broken_pack_regex_still_fails_at_build() -> None:
    """Laziness must not move a bad pattern's error from loading to the first scan."""
    bad = RecognizerSpec(name="bad", entity="BAD", patterns=(("b", r"(unclosed", 0.5),))
    with pytest.raises(re.error, match="missing"):
        Classifier(ClassifierSettings(entities=frozenset({"BAD"}), custom=(bad,)))


def test_builtin_recognizers_compile_lazily_too() -> None:
    c = Classifier(ClassifierSettings(entities=frozenset({"IBAN_CODE"})))
    ours = [r for r in c._ours if isinstance(r, DwPatternRecognizer)]
    assert ours
    assert all(r._compiled_cache is None for r in ours)
    assert _found(c, "IBAN CH93 0076 2011 6238 5295 7")[0][0] == "IBAN_CODE"


def test_shipped_pipeline_compiles_only_what_a_text_reaches() -> None:
    """With the shipped packs, building compiles no recognizer regex; the warm-up only the common
    entities'; a GitLab token compiles its own format and still alerts."""
    pipeline = build_pipeline(None, b"k" * 32, warm_up=False)
    ours = pipeline.classifier._ours
    assert len(ours) > 100
    assert not pipeline.warmed
    assert all(r._compiled_cache is None for r in ours)
    pipeline.warm_up()
    compiled = {r.name for r in ours if r._compiled_cache is not None}
    assert "IbanRecognizer" in compiled
    assert len(compiled) < len(ours) // 4
    assert "gitlab-feed-token" not in compiled
    found = pipeline.evaluate_text("GITLAB_TOKEN=glft-BEUeCHSveOr7tjyhsdat\n", FileRef("/x/ci.env")).findings
    assert "API_TOKEN" in {f.entity for f in found}
    assert any(r.name == "gitlab-feed-token" and r._compiled_cache is not None for r in ours)


def _compiles_of(specs: tuple[RecognizerSpec, ...], monkeypatch: pytest.MonkeyPatch, checked: bool) -> int:
    """How many of the specs' patterns ``re.compile`` sees while a classifier is built from them."""
    patterns = {regex for s in specs for _, regex, _ in s.patterns}
    seen: list[str] = []
    compile_ = re.compile

    def counting(pattern: str, flags: int = 0) -> re.Pattern[str]:
        if pattern in patterns:
            seen.append(pattern)
        return compile_(pattern, flags)

    with monkeypatch.context() as m:
        m.setattr(re, "compile", counting)
        entities = frozenset(s.entity for s in specs)
        Classifier(ClassifierSettings(entities=entities, custom=specs, custom_checked=checked))
    return len(seen)


def test_specs_the_loader_checked_are_not_compiled_at_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan's pipeline says its specs come from the loader (which compiled every pattern and
    refuses a pack whose pattern does not), so building its classifier compiles none of them again."""
    specs = (_TOKEN, _OTHER)
    assert _compiles_of(specs, monkeypatch, checked=False) == 2
    assert _compiles_of(specs, monkeypatch, checked=True) == 0
    assert build_pipeline(None, b"k" * 32, warm_up=False).classifier.settings.custom_checked
