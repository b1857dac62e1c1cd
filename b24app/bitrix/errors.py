"""Typed errors for everything that can go wrong talking to Bitrix24."""

from __future__ import annotations


class BitrixError(Exception):
    """A REST call failed; ``code`` is Bitrix24's error code (or our own for transport faults)."""

    def __init__(self, code: str, description: str = "", *, status: int | None = None) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.status = status


class TokenExpired(BitrixError):
    """401 expired_token / invalid_token: refresh and retry once."""


class AuthFailed(BitrixError):
    """The portal refused our credentials for good (after a refresh, or NO_AUTH_FOUND)."""


class AccessDenied(BitrixError):
    """The user lacks a right or a scope."""


class QueryLimitExceeded(BitrixError):
    """503 QUERY_LIMIT_EXCEEDED: the request was not executed; retry later."""


class OperationTimeLimit(BitrixError):
    """429 OPERATION_TIME_LIMIT: this method is blocked for a while."""


class TransientError(BitrixError):
    """A timeout, connection fault, 5xx or non-JSON answer: the outcome is unknown."""


class MethodError(BitrixError):
    """Any other error the method answered with."""


class PortalMoved(BitrixError):
    """The portal answered a redirect the app will not follow (unconfirmed, or too many hops).

    Nothing was executed and nothing was sent to the named host.
    """


class OAuthError(Exception):
    """A token grant failed."""

    def __init__(self, code: str, description: str = "", *, status: int | None = None) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.status = status


class InvalidGrant(OAuthError):
    """The refresh token or code is dead: the user must open the app again."""


class InvalidClient(OAuthError):
    """The app is not installed there any more, or our credentials are wrong."""


class OAuthTransient(OAuthError):
    """The OAuth server did not answer usefully; tokens are untouched, try later."""


class VerificationError(Exception):
    """An inbound request could not be verified; ``reason`` names why (never a secret)."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
