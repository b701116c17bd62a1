"""Parsing container ``secrets`` references and resolving them against the stores (model/secret_refs.py)."""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.model import secret_refs
from ecslite.model.secret_refs import Failure, ParameterRef, SecretResolutionError, SecretsManagerRef
from ecslite.store import parameters as parameter_store
from ecslite.store import secrets as secret_store
from ecslite.store.db import Database

ACCOUNT, REGION = "123456789012", "ap-northeast-1"
ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: "
RETRIED = "service call has been retried 1 time(s): "
ASM = f"{PREFIX}execution resource retrieval failed: unable to retrieve secret from asm: {RETRIED}"
SSM = f"{PREFIX}execution resource retrieval failed: unable to retrieve secrets from ssm: {RETRIED}"
V1, V2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


# -- parsing ------------------------------------------------------------------------------------------


def parse(value_from: str) -> Any:
    return secret_refs.parse_value_from(value_from, ACCOUNT, REGION)


@pytest.mark.parametrize(
    ("value_from", "secret_id", "key", "stage", "version"),
    [
        (ARN + "app-AbCdEf", ARN + "app-AbCdEf", None, None, None),
        (ARN + "app", ARN + "app", None, None, None),
        (ARN + "app-AbCdEf:username::", ARN + "app-AbCdEf", "username", None, None),
        (ARN + "app-AbCdEf:username", ARN + "app-AbCdEf", "username", None, None),
        (ARN + "app-AbCdEf:password:AWSPREVIOUS:", ARN + "app-AbCdEf", "password", "AWSPREVIOUS", None),
        (ARN + "app-AbCdEf::AWSPENDING:", ARN + "app-AbCdEf", None, "AWSPENDING", None),
        (ARN + f"app-AbCdEf:::{V1}", ARN + "app-AbCdEf", None, None, V1),
        (ARN + f"path/to/app:key::{V2}", ARN + "path/to/app", "key", None, V2),
    ],
)
def test_secrets_manager_arns_with_every_optional_part(
    value_from: str, secret_id: str, key: str | None, stage: str | None, version: str | None
) -> None:
    ref = parse(value_from)
    assert isinstance(ref, SecretsManagerRef)
    assert (ref.secret_id, ref.json_key, ref.version_stage, ref.version_id) == (secret_id, key, stage, version)
    assert (ref.account, ref.region, ref.value_from) == (ACCOUNT, REGION, value_from)


def test_secret_arn_of_another_region_and_account_keeps_them() -> None:
    ref = parse("arn:aws:secretsmanager:eu-west-1:999999999999:secret:x-AbCdEf")
    assert isinstance(ref, SecretsManagerRef) and (ref.account, ref.region) == ("999999999999", "eu-west-1")


@pytest.mark.parametrize(
    ("value_from", "account", "region"),
    [
        ("/app/db/password", ACCOUNT, REGION),
        ("plain-name", ACCOUNT, REGION),
        ("/app/db/password:3", ACCOUNT, REGION),
        (f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/db/password", ACCOUNT, REGION),
        ("arn:aws:ssm:us-west-2:999999999999:parameter/other", "999999999999", "us-west-2"),
    ],
)
def test_ssm_names_and_arns(value_from: str, account: str, region: str) -> None:
    ref = parse(value_from)
    assert isinstance(ref, ParameterRef)
    assert (ref.name, ref.account, ref.region) == (value_from, account, region)


@pytest.mark.parametrize(
    "value_from",
    [
        "",
        "arn:aws:secretsmanager",
        ARN,  # no secret name
        ARN + "app:key:stage:id:extra",
        "arn:aws:s3:::bucket/key",
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/x",
    ],
)
def test_references_that_name_nothing_are_invalid(value_from: str) -> None:
    with pytest.raises(secret_refs.InvalidReference):
        parse(value_from)


# -- resolution ---------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_750_000_000.0)


@pytest.fixture
def db() -> Database:
    return Database(None)


def add_secret(
    db: Database, name: str, versions: list[tuple[str, list[str], str | bytes]], region: str = REGION
) -> str:
    arn = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{name}-AbCdEf"
    with db.transaction():
        secret = secret_store.create(db, ACCOUNT, region, {"ARN": arn, "Name": name, "CreatedDate": 1.0})
        for version_id, stages, value in versions:
            secret_store.add_version(db, secret, version_id, stages, 1.0, value)
    return arn


def add_parameter(db: Database, name: str, values: list[str], kind: str = "String") -> None:
    with db.transaction():
        for number, value in enumerate(values, 1):
            doc = {"Type": kind, "DataType": "text", "Tier": "Standard", "LastModifiedDate": 1.0}
            arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.removeprefix('/')}"
            parameter_store.put_version(db, ACCOUNT, REGION, name, number, doc, value, arn)


def resolve(db: Database, clock: FakeClock, *pairs: tuple[str, str]) -> dict[str, str]:
    secrets = [{"name": name, "valueFrom": value_from} for name, value_from in pairs]
    return secret_refs.resolve_secrets(db, ACCOUNT, REGION, secrets, clock=clock)


def failure_of(db: Database, clock: FakeClock, *pairs: tuple[str, str]) -> SecretResolutionError:
    with pytest.raises(SecretResolutionError) as caught:
        resolve(db, clock, *pairs)
    assert str(caught.value) == caught.value.message
    return caught.value


def test_whole_secret_by_full_and_partial_arn(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "app", [(V1, ["AWSCURRENT"], "s3cret")])
    assert resolve(db, clock, ("A", arn), ("B", ARN + "app")) == {"A": "s3cret", "B": "s3cret"}


def test_json_keys_of_a_json_secret(db: Database, clock: FakeClock) -> None:
    document = '{"username": "admin", "port": 5432, "tls": true, "extra": {"a": [1, 2]}}'
    arn = add_secret(db, "db", [(V1, ["AWSCURRENT"], document)])
    assert resolve(
        db,
        clock,
        ("USER", arn + ":username::"),
        ("PORT", arn + ":port::"),
        ("TLS", arn + ":tls::"),
        ("EXTRA", arn + ":extra::"),
    ) == {"USER": "admin", "PORT": "5432", "TLS": "true", "EXTRA": '{"a":[1,2]}'}


def test_version_stage_and_version_id_pick_the_version(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "rot", [(V1, ["AWSPREVIOUS"], '{"k": "old"}'), (V2, ["AWSCURRENT"], '{"k": "new"}')])
    assert resolve(
        db,
        clock,
        ("CURRENT", arn + ":k::"),
        ("PREVIOUS", arn + ":k:AWSPREVIOUS:"),
        ("BY_ID", arn + f":k::{V1}"),
        ("BOTH", arn + f":k:AWSCURRENT:{V2}"),
    ) == {"CURRENT": "new", "PREVIOUS": "old", "BY_ID": "old", "BOTH": "new"}


def test_secret_in_another_region_is_read_there(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "far", [(V1, ["AWSCURRENT"], "far away")], region="eu-west-1")
    assert resolve(db, clock, ("FAR", arn)) == {"FAR": "far away"}


def test_missing_secret(db: Database, clock: FakeClock) -> None:
    error = failure_of(db, clock, ("DB_PASSWORD", ARN + "nope-AbCdEf"))
    assert (error.failure, error.secret_name, error.value_from) == (
        Failure.SECRET_NOT_FOUND,
        "DB_PASSWORD",
        ARN + "nope-AbCdEf",
    )
    assert error.message == (
        f"{ASM}failed to fetch secret {ARN}nope-AbCdEf from secrets manager: ResourceNotFoundException: "
        "Secrets Manager can't find the specified secret. Container secret DB_PASSWORD: no secret "
        f"{ARN}nope-AbCdEf in {REGION} of account {ACCOUNT}."
    )


def test_secret_scheduled_for_deletion(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "doomed", [(V1, ["AWSCURRENT"], "x")])
    secret = secret_store.by_arn(db, ACCOUNT, REGION, arn, clock.now())
    assert secret is not None
    secret.doc["DeletedDate"] = clock.now()
    with db.transaction():
        secret_store.update(db, secret, purge_at=clock.now() + 86400)
    error = failure_of(db, clock, ("S", arn))
    assert error.failure is Failure.SECRET_DELETED
    assert error.message.startswith(
        f"{ASM}failed to fetch secret {arn} from secrets manager: InvalidRequestException: You can't perform this "
        "operation on the secret because it was marked for deletion. Container secret S:"
    )
    clock.advance(86400)
    assert failure_of(db, clock, ("S", arn)).failure is Failure.SECRET_NOT_FOUND  # purged after its window


def test_missing_stage(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "one", [(V1, ["AWSCURRENT"], "x")])
    error = failure_of(db, clock, ("S", arn + "::AWSPREVIOUS:"))
    assert error.failure is Failure.STAGE_NOT_FOUND
    assert error.message == (
        f"{ASM}failed to fetch secret {arn} from secrets manager: ResourceNotFoundException: Secrets Manager can't "
        "find the specified secret value for staging label: AWSPREVIOUS. Container secret S: secret one has no "
        "version with staging label AWSPREVIOUS."
    )


def test_missing_version_id(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "one", [(V1, ["AWSCURRENT"], "x")])
    error = failure_of(db, clock, ("S", arn + f":::{V2}"))
    assert error.failure is Failure.VERSION_NOT_FOUND
    assert f"can't find the specified secret value for VersionId: {V2}." in error.message
    assert error.message.endswith(f"Container secret S: secret one has no version with version id {V2}.")


def test_stage_that_the_version_does_not_carry(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "one", [(V1, ["AWSPREVIOUS"], "a"), (V2, ["AWSCURRENT"], "b")])
    error = failure_of(db, clock, ("S", arn + f"::AWSCURRENT:{V1}"))
    assert error.failure is Failure.STAGE_NOT_ON_VERSION
    assert "You provided a VersionStage that is not associated to the provided VersionId." in error.message


def test_missing_json_key(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "db", [(V1, ["AWSCURRENT"], '{"username": "admin", "host": "h"}')])
    error = failure_of(db, clock, ("DB_PASSWORD", arn + ":password::"))
    assert error.failure is Failure.JSON_KEY_MISSING
    assert error.message == (
        f"{ASM}retrieved secret from Secrets Manager did not contain json key password. Container secret "
        "DB_PASSWORD: the secret's JSON has no key password (it has host, username)."
    )


@pytest.mark.parametrize("value", ["plain text", "[1, 2]", '"quoted"'])
def test_json_key_of_a_secret_that_is_not_a_json_object(db: Database, clock: FakeClock, value: str) -> None:
    arn = add_secret(db, "text", [(V1, ["AWSCURRENT"], value)])
    error = failure_of(db, clock, ("S", arn + ":key::"))
    assert error.failure is Failure.NOT_JSON
    assert error.message.startswith(f"{ASM}retrieved secret from Secrets Manager is not a JSON object")


def test_binary_secret_cannot_become_an_environment_variable(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "bin", [(V1, ["AWSCURRENT"], b"\x00\x01")])
    assert failure_of(db, clock, ("S", arn)).failure is Failure.BINARY_SECRET


def test_invalid_reference(db: Database, clock: FakeClock) -> None:
    error = failure_of(db, clock, ("S", "arn:aws:s3:::bucket/key"))
    assert error.failure is Failure.INVALID_REFERENCE
    assert error.message.startswith(f"{PREFIX}invalid secret reference arn:aws:s3:::bucket/key. Container secret S:")


def test_ssm_parameters_by_name_arn_and_selector(db: Database, clock: FakeClock) -> None:
    add_parameter(db, "/app/url", ["http://one", "http://two"])
    add_parameter(db, "/app/password", ["hunter2"], kind="SecureString")
    add_parameter(db, "plain", ["p"])
    with db.transaction():
        parameter = parameter_store.get(db, ACCOUNT, REGION, "/app/url")
        assert parameter is not None
        parameter_store.set_labels(db, parameter, 1, ["stable"])
    ssm_arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
    assert resolve(
        db,
        clock,
        ("URL", "/app/url"),
        ("URL_1", "/app/url:1"),
        ("URL_STABLE", "/app/url:stable"),
        ("PASSWORD", f"{ssm_arn}/app/password"),
        ("PLAIN", f"{ssm_arn}/plain"),
    ) == {
        "URL": "http://two",
        "URL_1": "http://one",
        "URL_STABLE": "http://one",
        "PASSWORD": "hunter2",
        "PLAIN": "p",
    }


def test_missing_ssm_parameters_are_reported_together(db: Database, clock: FakeClock) -> None:
    add_parameter(db, "/present", ["v"])
    error = failure_of(db, clock, ("OK", "/present"), ("A", "/missing/a"), ("B", "/present:9"))
    assert (error.failure, error.secret_name) == (Failure.PARAMETER_NOT_FOUND, "A")
    assert error.message == (
        f"{SSM}invalid ssm parameters: /missing/a, /present:9. Container secret A: no SSM parameter /missing/a in "
        f"{REGION} of account {ACCOUNT}."
    )


def test_mixed_secrets_resolve_in_the_order_given(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "app", [(V1, ["AWSCURRENT"], '{"token": "t"}')])
    add_parameter(db, "/p", ["param"])
    resolved = resolve(db, clock, ("TOKEN", arn + ":token::"), ("P", "/p"))
    assert list(resolved.items()) == [("TOKEN", "t"), ("P", "param")]


def test_resolution_never_writes_the_store(db: Database, clock: FakeClock) -> None:
    arn = add_secret(db, "app", [(V1, ["AWSCURRENT"], "x")])
    seen: list[object] = []
    db.subscribe(seen.append)
    resolve(db, clock, ("A", arn))
    failure_of(db, clock, ("A", ARN + "nope"))
    assert seen == []
