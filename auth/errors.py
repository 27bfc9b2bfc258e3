"""Errors of identity and trust."""

from __future__ import annotations

from service.errors import LnobError


class TokenInvalid(LnobError):
    """A bearer token was presented but cannot be trusted; the request is refused (401)."""

    code = "UNAUTHENTICATED"


class SignatureInvalid(LnobError):
    """A signed answer did not verify against the key we hold for its signer."""

    code = "UNTRUSTED"
