"""The authorization endpoint: `GET /authorize` shows the sign-in form, `POST /authorize`
checks the person's password and sends them back to the client with a code.

Errors follow RFC 6749 §4.1.2.1: once the client and its redirect URI are known good, an error
goes back to the client as `error=…&state=…`; before that (an unknown or revoked client, a
redirect URI not registered for it) the person sees an error page here and is never sent on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from authlib.oauth2.base import OAuth2Error  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request  # type: ignore[import-untyped]
from starlette.responses import Response

from auth import users
from auth.signin_page import WRONG_CREDENTIALS, FormSigner, error_page, signin_page

if TYPE_CHECKING:
    from auth.server import TokenServer

logger = logging.getLogger(__name__)

SIGNED_REQUEST_FIELD = "authorization_request"


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    """Request parameters as authlib reads them: the first value, and every value."""

    def __init__(self, form: dict[str, list[str]]) -> None:
        self._datalist = form
        self._data = {name: values[0] for name, values in form.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class AuthorizationRequest(OAuth2Request):  # type: ignore[misc]
    """An authorization request as authlib reads it, from the query or the signed form field."""

    def __init__(self, uri: str, parameters: dict[str, list[str]]) -> None:
        super().__init__("GET", uri, headers={})
        self.payload = FormPayload(parameters)

    @property
    def args(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data

    @property
    def form(self) -> dict[str, str]:
        return {}


class SignIn:
    """Both halves of the authorization endpoint, synchronous (they hash passwords and touch
    the database): the app runs them in a worker thread."""

    def __init__(self, server: TokenServer, signer: FormSigner, endpoint: str) -> None:
        self.server = server
        self.signer = signer
        self.endpoint = endpoint

    def show(self, query: dict[str, list[str]]) -> Response:
        request = AuthorizationRequest(self.endpoint, query)
        try:
            grant = self.server.get_consent_grant(request, end_user=None)
        except OAuth2Error as error:
            return self._refuse(request, error)
        parameters = {name: values[0] for name, values in query.items()}
        return signin_page(
            client_name=grant.client.client.record.name,
            signed_request=self.signer.sign(parameters),
            redirect_uri=grant.redirect_uri,
        )

    def submit(self, form: dict[str, list[str]]) -> Response:
        signed = _first(form, SIGNED_REQUEST_FIELD)
        parameters = self.signer.verify(signed) if signed else None
        if parameters is None:
            return error_page(
                "This sign-in form has expired",
                "The form was left open too long, or it did not come from this server.",
            )
        request = AuthorizationRequest(
            self.endpoint, {name: [value] for name, value in parameters.items()}
        )
        try:
            grant = self.server.get_consent_grant(request, end_user=None)
        except OAuth2Error as error:
            return self._refuse(request, error)
        username = _first(form, "username")
        with self.server.sessions() as session:
            user = users.authenticate(session, username, _first(form, "password"))
        if user is None:
            # Which of the two was wrong is told to no one, the log included.
            logger.info("a sign-in to client %s failed", grant.client.get_client_id())
            return signin_page(
                client_name=grant.client.client.record.name,
                signed_request=signed,
                redirect_uri=grant.redirect_uri,
                username=username[:100],
                error=WRONG_CREDENTIALS,
            )
        response: Response = self.server.create_authorization_response(
            request, grant_user=user, grant=grant
        )
        return response

    def _refuse(self, request: AuthorizationRequest, error: OAuth2Error) -> Response:
        if error.redirect_uri:  # authlib sets it only once the client's URI is verified
            response: Response = self.server.handle_error_response(request, error)
            return response
        logger.info("refused an authorization request: %s", error.error)
        return error_page(
            "This sign-in request cannot be served", error.get_error_description() or error.error
        )


def _first(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""
