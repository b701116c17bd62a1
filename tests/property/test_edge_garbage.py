"""Whatever arrives at the AWS edge, the answer is a well-formed AWS error of the right protocol.

Random and garbled bodies, missing or wrong content types, random ``X-Amz-Target``s and query
forms: never a 5xx (but 501 for an operation of a service ecslite does not serve yet, which runs
nothing), always ``{"__type", "message"}`` JSON when the request names a target and an XML
``ErrorResponse`` when it does not, and a rejected request never changes the store.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from ecslite.protocol.models import BY_TARGET_PREFIX, SERVICES, service_model
from tests.property.conftest import ECS_TARGET, SCOPES, authorization, property_settings
from tests.property.harness import EdgeHarness, Exchange

PROPERTY = property_settings(200)

QUERY_SERVICES = [s for s in SERVICES if s.protocol in ("query", "ec2")]
QUERY_ACTIONS = sorted({op for s in QUERY_SERVICES for op in service_model(s.name).operation_names})
ECS_OPERATIONS = sorted(service_model("ecs").operation_names)
JSON_PREFIXES = sorted(BY_TARGET_PREFIX)

# Header values as a client could send them: printable Latin-1 without line breaks.
_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
_NAMES = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)

content_types = (
    st.sampled_from(
        [
            None,
            "application/x-amz-json-1.1",
            "application/x-amz-json-1.0",
            "application/json",
            "application/x-www-form-urlencoded; charset=utf-8",
            "text/plain",
            "multipart/form-data; boundary=x",
            "",
        ]
    )
    | _HEADER_TEXT
)

targets = st.one_of(
    st.builds("{}.{}".format, st.just(ECS_TARGET), st.sampled_from(ECS_OPERATIONS)),
    st.builds("{}.{}".format, st.sampled_from(JSON_PREFIXES), _NAMES),
    st.builds("{}.{}".format, st.sampled_from(JSON_PREFIXES), st.sampled_from(ECS_OPERATIONS)),
    st.builds("{}.{}".format, _NAMES, st.sampled_from(ECS_OPERATIONS)),
    st.sampled_from([f"{ECS_TARGET}.", f".{ECS_OPERATIONS[0]}", ".", ECS_TARGET, "ListClusters"]),
    _HEADER_TEXT.filter(lambda t: t.strip() != ""),
)

authorizations = st.one_of(
    st.none(),
    st.sampled_from(SCOPES).map(lambda scope: authorization(*scope)),
    st.builds(
        authorization,
        st.sampled_from([key for key, _ in SCOPES]),
        st.just(SCOPES[0][1]),
        st.sampled_from(["ecs", "sts", "elasticloadbalancing", "cloudformation", "logs", "nosuch"]),
    ),
    _HEADER_TEXT,
    st.just("AWS4-HMAC-SHA256 Credential=/////aws4_request"),
)

json_bodies = st.one_of(
    st.binary(max_size=200),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(_NAMES, _JSON, max_size=5).map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"",
            b"{}",
            b"{",
            b"[" * 3000,
            b'{"a":' * 600 + b"1" + b"}" * 600,
            b'{"clusterName": "\\ud800"}',
            b'{"maxResults": 1e400}',
            b'{"maxResults": 18446744073709551616}',
            b'{"maxResults": 100000000000000000000.0}',
            b"\xef\xbb\xbf{}",
            b'{"clusters": [null, null]}',
        ]
    ),
)


def _form(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='.')}={quote(v, safe='')}" for k, v in pairs)


form_keys = st.one_of(
    st.sampled_from(
        [
            "Version",
            "RoleArn",
            "RoleSessionName",
            "DurationSeconds",
            "Names.member.1",
            "Tags.member.1.Key",
            "Tags.member.1.Value",
            "Attributes.entry.1.key",
            "Attributes.entry.1.value",
        ]
    ),
    st.builds("{}.member.{}".format, _NAMES, st.integers(-1, 3)),
    st.builds("{}.entry.{}.value".format, _NAMES, st.integers(0, 2)),
    _NAMES,
)
forms = st.builds(
    lambda action, pairs: _form(([("Action", action)] if action is not None else []) + pairs),
    st.one_of(st.none(), st.sampled_from(QUERY_ACTIONS), _NAMES, st.text(max_size=10)),
    st.lists(
        st.tuples(form_keys, st.text(max_size=20) | st.sampled_from(["", "true", "-1", "1e400", "x" * 300])), max_size=6
    ),
)
query_bodies = st.one_of(forms.map(str.encode), st.binary(max_size=200))


def check(edge: EdgeHarness, exchange: Exchange, json_protocol: bool) -> None:
    if json_protocol:
        edge.check_json_exchange(exchange)
    else:
        edge.check_xml_exchange(exchange)


@PROPERTY
@given(
    target=targets,
    content_type=content_types,
    auth=authorizations,
    body=json_bodies,
    method=st.sampled_from(["POST", "POST", "POST", "PUT", "GET", "DELETE"]),
)
def test_json_requests_get_json_answers_without_server_fault(
    edge: EdgeHarness, target: str, content_type: str | None, auth: str | None, body: bytes, method: str
) -> None:
    headers = {"x-amz-target": target}
    if content_type is not None:
        headers["content-type"] = content_type
    if auth is not None:
        headers["authorization"] = auth
    exchange = edge.send(method, headers=headers, content=body)
    check(edge, exchange, json_protocol=True)


@PROPERTY
@given(
    body=query_bodies,
    params=st.one_of(st.just(""), forms),
    content_type=content_types,
    auth=authorizations,
    method=st.sampled_from(["POST", "POST", "GET", "PUT"]),
    path=st.sampled_from(["/", "/", "/index", "/a//b", "/sts"]),
)
def test_requests_without_target_get_xml_answers_without_server_fault(
    edge: EdgeHarness, body: bytes, params: str, content_type: str | None, auth: str | None, method: str, path: str
) -> None:
    if method == "GET" and path == "/" and not params:
        params = "Action="  # a bare GET / is ecslite's own redirect to its health page
    headers = {}
    if content_type is not None:
        headers["content-type"] = content_type
    if auth is not None:
        headers["authorization"] = auth
    exchange = edge.send(method, path, headers=headers, content=body, params=params)
    check(edge, exchange, json_protocol=False)


@PROPERTY
@given(
    name=st.sampled_from(["x-amz-target", "authorization", "content-type", "content-length", "host"]),
    value=st.binary(max_size=40).filter(lambda v: b"\r" not in v and b"\n" not in v),
    body=json_bodies,
)
def test_raw_header_bytes_get_a_well_formed_answer(edge: EdgeHarness, name: str, value: bytes, body: bytes) -> None:
    headers = [(b"x-amz-target", f"{ECS_TARGET}.ListClusters".encode()), (name.encode(), value)]
    if name == "content-length":
        headers.append((b"content-type", b"application/x-amz-json-1.1"))
    exchange = edge.send(headers=headers, content=body)
    target = value if name == "x-amz-target" else headers[0][1]
    check(edge, exchange, json_protocol=bool(target.decode("latin-1")))
