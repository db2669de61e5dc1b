"""The e-mail recognizer's per-domain verdict cache answers as tldextract does on the whole match."""

from __future__ import annotations

import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.classify.recognizers.email import EmailAddressRecognizer, public_suffixes, registrable

_MATCH = regex.compile(EmailAddressRecognizer.PATTERNS[0][1], EmailAddressRecognizer.FLAGS)
_LOCAL = st.text(alphabet="ab.-_+/?#!=%'~", min_size=1, max_size=12)
_DOMAIN = st.lists(
    st.sampled_from(["example", "co", "uk", "com", "ch", "zz", "blogspot", "xn--p1ai", "x-y", "localhost"]),
    min_size=1,
    max_size=4,
).map(".".join)


@settings(max_examples=300, deadline=None)
@given(local=_LOCAL, domain=_DOMAIN)
def test_cached_verdict_is_tldextracts_on_the_whole_match(local: str, domain: str) -> None:
    for m in _MATCH.finditer(f"{local}@{domain}"):
        assert registrable(m.group()) == (public_suffixes()(m.group()).fqdn != "")


def test_a_local_part_ending_a_url_host_is_judged_on_the_whole_address() -> None:
    """tldextract reads "a/b@example.com" as the host "a": the cache must not answer for example.com."""
    assert registrable("b@example.com")
    assert not registrable("a/b@example.com")
    assert not registrable("a?b@example.com")
    assert not registrable("a#b@example.com")
