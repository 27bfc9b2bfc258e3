"""Signed answers: the RFC's own vectors, a round trip, and every way a forged answer is refused."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from auth.errors import SignatureInvalid
from auth.keys import SigningKey
from auth.signatures import (
    COVERED_COMPONENTS,
    Rejection,
    SignatureRejected,
    content_digest,
    sign_response,
    signature_base,
    signature_params,
    verify_response,
)

# RFC 9421 appendix B.1.4, test-key-ed25519.
RFC_PRIVATE_KEY = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
RFC_PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""

NOW = 1_750_000_000
BODY = b'{"data":{"observations":{"totalCount":3}}}'
JSON = "application/graphql-response+json; charset=utf-8"


def rfc_key() -> SigningKey:
    private = serialization.load_pem_private_key(RFC_PRIVATE_KEY, password=None)
    assert isinstance(private, Ed25519PrivateKey)
    return SigningKey(private)


def test_rfc9421_b26_ed25519_signature_is_reproduced() -> None:
    """Appendix B.2.6: our signature base and Ed25519 signature are the RFC's, byte for byte."""
    components = ("date", "@method", "@path", "@authority", "content-type", "content-length")
    params = signature_params(components, created=1618884473, keyid="test-key-ed25519", alg=None)
    values = ["Tue, 20 Apr 2021 02:07:55 GMT", "POST", "/foo", "example.com"]
    values += ["application/json", "18"]
    base = signature_base(
        list(zip(components, values, strict=True)),
        params,
    )
    assert base.decode("ascii") == (
        '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
        '"@method": POST\n'
        '"@path": /foo\n'
        '"@authority": example.com\n'
        '"content-type": application/json\n'
        '"content-length": 18\n'
        '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" '
        '"content-length");created=1618884473;keyid="test-key-ed25519"'
    )
    signature = rfc_key().sign(base)
    assert base64.b64encode(signature).decode("ascii") == (
        "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
    )
    public = serialization.load_pem_public_key(RFC_PUBLIC_KEY)
    assert isinstance(public, Ed25519PublicKey)
    public.verify(signature, base)


def test_rfc9421_b24_response_base_layout() -> None:
    """Appendix B.2.4 signs a response: `@status` is the bare three-digit code."""
    components = ("@status", "content-type", "content-digest", "content-length")
    digest = (
        "sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5"
        "aGgfLQ==:"
    )
    params = signature_params(components, created=1618884473, keyid="test-key-ecc-p256", alg=None)
    base = signature_base(
        list(zip(components, ("200", "application/json", digest, "23"), strict=True)), params
    )
    assert base.decode("ascii").splitlines() == [
        '"@status": 200',
        '"content-type": application/json',
        f'"content-digest": {digest}',
        '"content-length": 23',
        '"@signature-params": ("@status" "content-type" "content-digest" "content-length")'
        ';created=1618884473;keyid="test-key-ecc-p256"',
    ]


def test_rfc9530_content_digest_example() -> None:
    assert content_digest(b'{"hello": "world"}') == (
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    )


@pytest.fixture
def node_key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


@pytest.fixture
def registry(node_key: SigningKey) -> dict[str, Ed25519PublicKey]:
    return {node_key.key_id: node_key.public_key}


def answer(key: SigningKey, body: bytes = BODY, status: int = 200) -> dict[str, str]:
    signed = sign_response(key, status=status, content_type=JSON, body=body, created=NOW - 5)
    return {"Content-Type": JSON, **signed}


def verify(
    registry: dict[str, Ed25519PublicKey],
    headers: dict[str, str],
    body: bytes = BODY,
    status: int = 200,
    now: int = NOW,
) -> None:
    verify_response(registry, status=status, headers=headers, body=body, now=now)


def test_round_trip_and_provenance_passed_on(
    node_key: SigningKey, registry: dict[str, Ed25519PublicKey]
) -> None:
    headers = answer(node_key)
    assert headers["Signature-Input"] == (
        f'lnob=("@status" "content-type" "content-digest");created={NOW - 5}'
        f';keyid="{node_key.key_id}";alg="ed25519"'
    )
    verified = verify_response(registry, status=200, headers=headers, body=BODY, now=NOW)
    assert verified.key_id == node_key.key_id
    assert verified.created == NOW - 5
    assert verified.covered == COVERED_COMPONENTS
    # A partner given the passed-on headers checks the node's signature itself, later.
    passed_on = {"content-type": JSON, **verified.headers()}
    later = verify_response(
        registry, status=200, headers=passed_on, body=BODY, now=NOW + 86_400, max_age_seconds=None
    )
    assert later == verified


def test_headers_are_case_insensitive_as_a_client_receives_them(
    node_key: SigningKey, registry: dict[str, Ed25519PublicKey]
) -> None:
    received = httpx.Headers({name.upper(): value for name, value in answer(node_key).items()})
    verify_response(registry, status=200, headers=received, body=BODY, now=NOW)


def forged_signature(
    key: SigningKey,
    *,
    components: tuple[str, ...] = COVERED_COMPONENTS,
    keyid: str | None = None,
    alg: str = "ed25519",
    body: bytes = BODY,
) -> dict[str, str]:
    """Headers signed correctly by `key` but shaped as a careless or hostile signer might."""
    digest = content_digest(body)
    values = {"@status": "200", "content-type": JSON, "content-digest": digest}
    params = signature_params(components, created=NOW, keyid=keyid or key.key_id, alg=alg)
    base = signature_base([(name, values[name]) for name in components], params)
    signature = base64.b64encode(key.sign(base)).decode("ascii")
    return {
        "Content-Type": JSON,
        "Content-Digest": digest,
        "Signature-Input": f"lnob={params}",
        "Signature": f"lnob=:{signature}:",
    }


def _without(name: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda headers: {k: v for k, v in headers.items() if k != name}


OTHER_NODE = SigningKey(Ed25519PrivateKey.generate())

# (what an attacker or a fault did, headers from the genuine answer -> headers received,
#  body received, status received, reason)
TAMPERING: list[tuple[str, Callable[[dict[str, str]], dict[str, str]], bytes, int, Rejection]] = [
    ("byte flipped in the body", dict, BODY.replace(b"3", b"4"), 200, Rejection.DIGEST_MISMATCH),
    ("Signature header stripped", _without("Signature"), BODY, 200, Rejection.MISSING_HEADER),
    ("Signature-Input stripped", _without("Signature-Input"), BODY, 200, Rejection.MISSING_HEADER),
    ("Content-Digest stripped", _without("Content-Digest"), BODY, 200, Rejection.MISSING_HEADER),
    (
        "Content-Digest altered",
        lambda h: {**h, "Content-Digest": content_digest(b"{}")},
        BODY,
        200,
        Rejection.DIGEST_MISMATCH,
    ),
    (
        "body replaced and its digest recomputed",
        lambda h: {**h, "Content-Digest": content_digest(b"{}")},
        b"{}",
        200,
        Rejection.BAD_SIGNATURE,
    ),
    (
        "status changed",
        dict,
        BODY,
        500,
        Rejection.BAD_SIGNATURE,
    ),
    (
        "content type changed",
        lambda h: {**h, "Content-Type": "text/html"},
        BODY,
        200,
        Rejection.BAD_SIGNATURE,
    ),
    (
        "signature renamed to another label",
        lambda h: {k: v.replace("lnob=", "other=") for k, v in h.items()},
        BODY,
        200,
        Rejection.MISSING_HEADER,
    ),
    (
        "Signature-Input garbled",
        lambda h: {**h, "Signature-Input": 'lnob=("@status" "content-type'},
        BODY,
        200,
        Rejection.MALFORMED,
    ),
]


@pytest.mark.parametrize(
    ("tamper", "body", "status", "reason"),
    [case[1:] for case in TAMPERING],
    ids=[case[0] for case in TAMPERING],
)
def test_tampered_answers_are_refused_with_their_reason(
    node_key: SigningKey,
    registry: dict[str, Ed25519PublicKey],
    tamper: Callable[[dict[str, str]], dict[str, str]],
    body: bytes,
    status: int,
    reason: Rejection,
) -> None:
    with pytest.raises(SignatureRejected) as refused:
        verify(registry, tamper(answer(node_key)), body=body, status=status)
    assert refused.value.reason is reason
    assert isinstance(refused.value, SignatureInvalid)
    assert refused.value.code == "UNTRUSTED"


def test_signature_replayed_from_another_answer_is_refused(
    node_key: SigningKey, registry: dict[str, Ed25519PublicKey]
) -> None:
    genuine_other = answer(node_key, body=b'{"data":{"datasets":[]}}')
    this_answer = answer(node_key)
    replayed = {
        **this_answer,
        "Signature-Input": genuine_other["Signature-Input"],
        "Signature": genuine_other["Signature"],
    }
    with pytest.raises(SignatureRejected) as refused:
        verify(registry, replayed)
    assert refused.value.reason is Rejection.BAD_SIGNATURE


def test_answer_of_another_node_is_refused(registry: dict[str, Ed25519PublicKey]) -> None:
    with pytest.raises(SignatureRejected) as refused:
        verify(registry, answer(OTHER_NODE))
    assert refused.value.reason is Rejection.UNKNOWN_KEY


def test_another_node_claiming_our_key_id_is_refused(
    node_key: SigningKey, registry: dict[str, Ed25519PublicKey]
) -> None:
    with pytest.raises(SignatureRejected) as refused:
        verify(registry, forged_signature(OTHER_NODE, keyid=node_key.key_id))
    assert refused.value.reason is Rejection.BAD_SIGNATURE


def test_unknown_key_id_is_refused(node_key: SigningKey) -> None:
    with pytest.raises(SignatureRejected) as refused:
        verify({"someone-else": OTHER_NODE.public_key}, answer(node_key))
    assert refused.value.reason is Rejection.UNKNOWN_KEY


@pytest.mark.parametrize(
    ("now", "max_age", "reason"),
    [
        (NOW - 5 + 301, 300, Rejection.TOO_OLD),
        (NOW - 5 - 120, 300, Rejection.FROM_THE_FUTURE),
        (NOW - 5 + 300, 300, None),
        (NOW - 5 - 30, 300, None),  # a node's clock a little ahead
        (NOW + 30 * 86_400, None, None),  # provenance checked a month later
    ],
)
def test_age_of_a_signature(
    node_key: SigningKey,
    registry: dict[str, Ed25519PublicKey],
    now: int,
    max_age: int | None,
    reason: Rejection | None,
) -> None:
    headers = answer(node_key)
    if reason is None:
        verify_response(
            registry, status=200, headers=headers, body=BODY, now=now, max_age_seconds=max_age
        )
        return
    with pytest.raises(SignatureRejected) as refused:
        verify_response(
            registry, status=200, headers=headers, body=BODY, now=now, max_age_seconds=max_age
        )
    assert refused.value.reason is reason


def test_signature_not_covering_the_content_type_is_refused(
    node_key: SigningKey, registry: dict[str, Ed25519PublicKey]
) -> None:
    headers = forged_signature(node_key, components=("@status", "content-digest"))
    with pytest.raises(SignatureRejected) as refused:
        verify(registry, headers)
    assert refused.value.reason is Rejection.WRONG_COMPONENTS
    assert "content-type" in str(refused.value)


def test_signature_of_another_algorithm_is_refused(
    node_key: SigningKey, registry: dict[str, Ed25519PublicKey]
) -> None:
    with pytest.raises(SignatureRejected) as refused:
        verify(registry, forged_signature(node_key, alg="rsa-pss-sha512"))
    assert refused.value.reason is Rejection.WRONG_ALGORITHM


def test_extra_covered_header_is_checked(
    node_key: SigningKey, registry: dict[str, Ed25519PublicKey]
) -> None:
    """A signer may cover more fields; each must then be present and unchanged."""
    components = (*COVERED_COMPONENTS, "cache-control")
    params = signature_params(components, created=NOW, keyid=node_key.key_id)
    digest = content_digest(BODY)
    base = signature_base(
        list(zip(components, ("200", JSON, digest, "no-store"), strict=True)), params
    )
    headers = {
        "Content-Type": JSON,
        "Cache-Control": "no-store",
        "Content-Digest": digest,
        "Signature-Input": f"lnob={params}",
        "Signature": "lnob=:" + base64.b64encode(node_key.sign(base)).decode() + ":",
    }
    verify(registry, headers)
    with pytest.raises(SignatureRejected) as refused:
        verify(registry, {**headers, "Cache-Control": "max-age=60"})
    assert refused.value.reason is Rejection.BAD_SIGNATURE
    with pytest.raises(SignatureRejected) as refused:
        verify(registry, _without("Cache-Control")(headers))
    assert refused.value.reason is Rejection.MISSING_HEADER


def test_signing_refuses_what_cannot_be_signed(node_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="Content-Type"):
        sign_response(node_key, status=204, content_type="", body=b"")
    with pytest.raises(ValueError, match="three digits"):
        sign_response(node_key, status=20, content_type=JSON, body=b"")
    with pytest.raises(ValueError, match="label"):
        sign_response(node_key, status=200, content_type=JSON, body=b"", label="Bad Label")


def test_other_signatures_beside_ours_are_left_alone(
    node_key: SigningKey, registry: dict[str, Ed25519PublicKey]
) -> None:
    """A proxy may add its own signature (RFC 9421 allows several); ours still verifies."""
    ours = answer(node_key)
    proxy = sign_response(OTHER_NODE, status=200, content_type=JSON, body=BODY, label="proxy")
    both = {
        **ours,
        "Signature-Input": f"{proxy['Signature-Input']}, {ours['Signature-Input']}",
        "Signature": f"{proxy['Signature']}, {ours['Signature']}",
    }
    assert verify_response(registry, status=200, headers=both, body=BODY, now=NOW).label == "lnob"


def test_example_in_the_docs_verifies() -> None:
    """docs/signatures.md shows a signed answer; it must be one a coordinator would accept."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "signatures.md").read_text("utf-8")
    example = text.split("```\nHTTP/1.1 200 OK\n", 1)[1].split("\n```", 1)[0]
    head, body = example.split("\n\n", 1)
    headers = dict(line.split(": ", 1) for line in head.splitlines())
    key = rfc_key()
    verify_response(
        {key.key_id: key.public_key},
        status=200,
        headers=headers,
        body=body.encode("utf-8"),
        max_age_seconds=None,
    )
