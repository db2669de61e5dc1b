"""The built-in recognizers, one entity per module, and the table the classifier builds its registry from."""

from __future__ import annotations

from agent.classify.recognizers.aws_access_key import AwsAccessKeyRecognizer
from agent.classify.recognizers.aws_secret_key import AwsSecretKeyRecognizer
from agent.classify.recognizers.azure_key import AzureKeyRecognizer
from agent.classify.recognizers.bank_account import BankAccountRecognizer
from agent.classify.recognizers.base import DwPatternRecognizer
from agent.classify.recognizers.connection_string import ConnectionStringRecognizer
from agent.classify.recognizers.credit_card import CreditCardRecognizer
from agent.classify.recognizers.email import EmailAddressRecognizer
from agent.classify.recognizers.gcp_service_key import GcpServiceKeyRecognizer
from agent.classify.recognizers.generic_secret import GenericSecretRecognizer
from agent.classify.recognizers.github_token import GithubTokenRecognizer
from agent.classify.recognizers.gitlab_token import GitlabTokenRecognizer
from agent.classify.recognizers.iban import IbanRecognizer
from agent.classify.recognizers.ip_address import IpAddressRecognizer
from agent.classify.recognizers.jwt import JwtRecognizer
from agent.classify.recognizers.k8s_secret import KubernetesSecretRecognizer
from agent.classify.recognizers.keystore import KeystoreRecognizer
from agent.classify.recognizers.marking import ConfidentialMarkingRecognizer
from agent.classify.recognizers.password import PasswordRecognizer
from agent.classify.recognizers.private_key import PrivateKeyRecognizer
from agent.classify.recognizers.slack_token import SlackTokenRecognizer
from agent.classify.recognizers.swift_bic import SwiftBicRecognizer
from agent.classify.recognizers.url import UrlRecognizer
from agent.classify.recognizers.us_bank import UsBankRecognizer
from agent.classify.recognizers.us_ssn import UsSsnRecognizer

#: Our recognizers, by the entity each produces.
OURS: dict[str, type[DwPatternRecognizer]] = {
    cls.ENTITY: cls
    for cls in (
        CreditCardRecognizer,
        IbanRecognizer,
        SwiftBicRecognizer,
        BankAccountRecognizer,
        PrivateKeyRecognizer,
        AwsAccessKeyRecognizer,
        AwsSecretKeyRecognizer,
        GithubTokenRecognizer,
        GitlabTokenRecognizer,
        SlackTokenRecognizer,
        JwtRecognizer,
        AzureKeyRecognizer,
        GcpServiceKeyRecognizer,
        PasswordRecognizer,
        ConnectionStringRecognizer,
        GenericSecretRecognizer,
        KubernetesSecretRecognizer,
        KeystoreRecognizer,
        ConfidentialMarkingRecognizer,
        UsBankRecognizer,
        UsSsnRecognizer,
        IpAddressRecognizer,
        EmailAddressRecognizer,
        UrlRecognizer,
    )
}

__all__ = ["OURS", "DwPatternRecognizer"]
