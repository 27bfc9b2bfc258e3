"""The sign-in page: a server-rendered form, and the signed copy of the authorization request
it posts back.

No cookie is needed: `GET /authorize` checks the request and puts it, signed with a key derived
from the issuer's signing key (so every replica agrees), in a hidden field; `POST /authorize`
accepts only a request this server signed in the last `FORM_LIFETIME` seconds, and checks it
again. A forged or altered form is refused before any password is looked at.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from auth.keys import SigningKey

FORM_LIFETIME = 900
# The authorization request parameters that travel in the signed form field.
REQUEST_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
)
WRONG_CREDENTIALS = "Wrong username or password."
_TEMPLATES = Path(__file__).parent / "templates"


class FormSigner:
    """Signs and checks the authorization request carried by the sign-in form."""

    def __init__(self, key: SigningKey, *, lifetime: int = FORM_LIFETIME) -> None:
        private = key.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"lnob sign-in form v1"
        ).derive(private)
        self.lifetime = lifetime

    def sign(self, parameters: Mapping[str, str], *, now: float | None = None) -> str:
        payload = {name: parameters[name] for name in REQUEST_PARAMETERS if name in parameters}
        payload["iat"] = str(int(time.time() if now is None else now))
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def verify(self, signed: str, *, now: float | None = None) -> dict[str, str] | None:
        """The request parameters, or None if the value was not signed here, was altered or
        is older than the form's lifetime."""
        body, _, mac = signed.partition(".")
        if not body or not hmac.compare_digest(mac.encode("ascii", "replace"),
                                               self._mac(body).encode("ascii")):  # fmt: skip
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            issued_at = int(payload.pop("iat"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        age = (time.time() if now is None else now) - issued_at
        if not 0 <= age <= self.lifetime or not isinstance(payload, dict):
            return None
        return {name: str(value) for name, value in payload.items() if name in REQUEST_PARAMETERS}

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())


def signin_page(
    *,
    client_name: str,
    signed_request: str,
    redirect_uri: str,
    username: str = "",
    error: str | None = None,
) -> HTMLResponse:
    """The sign-in form for `client_name`; with `error`, shown again after a failed attempt."""
    template = _environment().get_template("signin.html")
    html = template.render(
        client_name=client_name,
        signed_request=signed_request,
        username=username,
        error=error,
        stylesheet=_stylesheet(),
    )
    return _html(html, 200, form_target=redirect_uri)


def error_page(title: str, message: str, *, status: int = 400) -> HTMLResponse:
    """An error the person must see here: the request names no place we may send them back to."""
    template = _environment().get_template("error.html")
    html = template.render(title=title, message=message, stylesheet=_stylesheet())
    return _html(html, status, form_target=None)


def _html(html: str, status: int, *, form_target: str | None) -> HTMLResponse:
    # After the form posts, the answer redirects to the client: browsers apply form-action to
    # that redirect too, so the client's origin is allowed beside our own.
    targets = "'self'"
    if form_target:
        parts = urlsplit(form_target)
        targets += f" {parts.scheme}://{parts.netloc}"
    policy = "; ".join(
        (
            "default-src 'none'",
            f"style-src 'sha256-{_sha256(_stylesheet())}'",
            f"form-action {targets}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Content-Security-Policy": policy,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


@functools.cache
def _stylesheet() -> str:
    return (_TEMPLATES / "signin.css").read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
