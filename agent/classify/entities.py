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
