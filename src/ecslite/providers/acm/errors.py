"""ACM's errors, one small class each, and the texts ACM answers with.

Texts marked verified were seen in real ACM responses quoted in public reports; the others are
kept here, in one place, marked unverified.
"""

from __future__ import annotations

from ecslite.protocol.errors import AwsError

# Verified.
MORE_THAN_ONE = (
    "The certificate field contains more than one certificate. You can specify only one certificate in this field."
)
IN_USE = "Certificate {arn} in account {account} is in use."
# Unverified wording (the codes are the model's).
NOT_FOUND = "Could not find certificate {arn}."
BAD_ARN = "String '{arn}' is not a valid ARN."
BAD_CERTIFICATE = "Unable to parse certificate. Please ensure the certificate is in PEM format."
BAD_KEY = "Unable to parse key; the key is encrypted or is not in PEM format."
KEY_TYPE = "The private key is not supported."
KEY_MISMATCH = "The private key does not match the public key in the certificate."
BAD_CHAIN = "Unable to parse the certificate chain. Please ensure the chain is in PEM format."
EXPIRED = "The certificate is expired or not yet valid."
BAD_DOMAIN = "DomainName '{name}' is not a valid domain name."
TOO_MANY_NAMES = "Too many domain names; the default quota is 10 names per certificate."
BAD_NEXT_TOKEN = "The NextToken '{token}' is not valid."
BAD_STATUS = "Invalid certificate status filter '{status}'."
TOO_MANY_TAGS = "The request contains too many tags; a certificate can have at most 50."

MATERIAL_MESSAGES = {
    "certificate": BAD_CERTIFICATE,
    "more-than-one": MORE_THAN_ONE,
    "key": BAD_KEY,
    "key-type": KEY_TYPE,
    "mismatch": KEY_MISMATCH,
    "chain": BAD_CHAIN,
}


class ResourceNotFoundException(AwsError):
    def __init__(self, arn: str) -> None:
        super().__init__("ResourceNotFoundException", NOT_FOUND.format(arn=arn))


class InvalidArnException(AwsError):
    def __init__(self, arn: str) -> None:
        super().__init__("InvalidArnException", BAD_ARN.format(arn=arn))


class ValidationException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


class InvalidParameterException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterException", message)


class InvalidArgsException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidArgsException", message)


class ResourceInUseException(AwsError):
    def __init__(self, arn: str, account: str) -> None:
        super().__init__("ResourceInUseException", IN_USE.format(arn=arn, account=account))


class LimitExceededException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("LimitExceededException", message)


class TooManyTagsException(AwsError):
    def __init__(self) -> None:
        super().__init__("TooManyTagsException", TOO_MANY_TAGS)
