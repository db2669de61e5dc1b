"""Every entity name the built-in recognizers can produce, as a plain constant.

Commands that check policy packs without scanning (`policy lint`, `config check`) need these names
but not the engine that produces them: importing Presidio (and with it spaCy) costs about half a
second. tests/unit/classify/test_entities.py keeps this list equal to
``Classifier.known_entities()``, which reads the real registry.
"""

from __future__ import annotations

KNOWN_ENTITIES = frozenset(
    {
        "ABA_ROUTING_NUMBER",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "AZURE_KEY",
        "BANK_ACCOUNT",
        "CONFIDENTIAL_MARKING",
        "CONNECTION_STRING",
        "CREDIT_CARD",
        "CRYPTO",
        "EMAIL_ADDRESS",
        "GCP_SERVICE_KEY",
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "IBAN_CODE",
        "IP_ADDRESS",
        "JWT",
        "KEYSTORE",
        "KUBERNETES_SECRET",
        "LOCATION",
        "MAC_ADDRESS",
        "PASSWORD",
        "PERSON",
        "PHONE_NUMBER",
        "PRIVATE_KEY",
        "SECRET",
        "SLACK_TOKEN",
        "SWIFT_BIC",
        "UK_NHS",
        "UK_NINO",
        "URL",
        "US_BANK_NUMBER",
        "US_ITIN",
        "US_PASSPORT",
        "US_SSN",
    }
)

#: The highest score a built-in entity ever gets, for those whose recognizers can never reach 1.0 (the
#: others may): a pattern's declared score raised by the context enhancer at most. `policy lint` warns
#: about a rule entity that can never reach the rule's min_score. tests/unit/policy/test_lint.py derives
#: this table from the recognizers' declarations.
SCORE_CEILINGS: dict[str, float] = {
    "BANK_ACCOUNT": 0.55,
    "GCP_SERVICE_KEY": 0.95,
    "URL": 0.95,
    "US_BANK_NUMBER": 0.4,
}
#: How the context enhancer (agent/classify/context.py) raises the score of a match with a context word
#: near it: by CONTEXT_BOOST, to at least CONTEXT_FLOOR, to at most 1.0 (as Presidio does).
CONTEXT_BOOST, CONTEXT_FLOOR = 0.35, 0.4
