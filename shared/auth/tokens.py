"""Bearer-token validation: issuer, signature (RS256/ES256), audience, lifetime, roles, account."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import jwt
from jwt import PyJWK

from shared.auth import dev_issuer
from shared.auth.caller import ROLE_RANK, Caller, Role
from shared.auth.jwks import JwksCache
from shared.config import Settings, get_settings
from shared.errors import Forbidden, Unauthorized

ALGORITHMS = ("RS256", "ES256")
KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
REALM = "tradingjournal"


class MissingToken(Unauthorized):
    """No bearer token on a route that needs one."""

    def __init__(self, detail: str = "this route needs a bearer token") -> None:
        super().__init__(detail)
        self.www_authenticate = f'Bearer realm="{REALM}"'


class InvalidToken(Unauthorized):
    """A bearer token that does not validate; `reason` is a short machine-readable cause."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        safe = detail.replace('"', "'")
        self.www_authenticate = (
            f'Bearer realm="{REALM}", error="invalid_token", error_description="{safe}"'
        )


class InsufficientRole(Forbidden):
    """A valid token whose roles rank below the route's."""

    def __init__(self, needed: str, caller: Caller) -> None:
        held = ", ".join(sorted(caller.roles)) or "none"
        super().__init__(f"this route needs the {needed} role; the token holds: {held}")
        self.needed = needed
        self.caller = caller
        self.www_authenticate = f'Bearer realm="{REALM}", error="insufficient_scope"'


def parse_roles(value: Any) -> frozenset[str]:
    """Known roles from a claim that is a list or a space/comma separated string. Role names
    match exactly, case included, as Entra ID app roles do ("Admin" is not "admin")."""
    if isinstance(value, str):
        items: list[Any] = re.split(r"[\s,]+", value)
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return frozenset()
    return frozenset(item for item in items if isinstance(item, str) and item in ROLE_RANK)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, None if the header is absent."""
    if not authorization or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("malformed", "the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _segment(text: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT, unverified (to pick the issuer and key)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed", "the token is not a JWT (header.payload.signature)")
    try:
        return _segment(parts[0]), _segment(parts[1])
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidToken("malformed", f"the token is not a JWT: {error}") from None


class TokenValidator:
    """Validates bearer tokens against the configured issuers (and the dev issuer locally)."""

    def __init__(self, settings: Settings, jwks: JwksCache | None = None) -> None:
        self.settings = settings
        self.issuers = {issuer.rstrip("/"): issuer for issuer in settings.auth_issuers}
        self.jwks = jwks or JwksCache(
            ttl_seconds=settings.auth_jwks_ttl_seconds,
            refetch_seconds=settings.auth_jwks_refetch_seconds,
            timeout_seconds=settings.http_timeout_seconds,
        )

    async def _signing_key(self, iss: str, kid: str | None) -> Any:
        if self.settings.dev_auth and iss == self.settings.dev_issuer_url:
            key = dev_issuer.dev_key(self.settings)
            if kid == key.kid:
                return key.private_key.public_key()
            raise InvalidToken("unknown_kid", f"the dev issuer has no key {kid!r}")
        issuer = self.issuers.get(iss.rstrip("/"))
        if issuer is None:
            raise InvalidToken("untrusted_issuer", f"issuer {iss!r} is not trusted")
        jwk: PyJWK | None = await self.jwks.key(issuer, kid)
        if jwk is None:
            raise InvalidToken("unknown_kid", f"issuer {iss!r} has no signing key {kid!r}")
        return jwk.key

    async def validate(self, token: str) -> Caller:
        """The caller a token names; `InvalidToken` with a reason if it does not validate."""
        header, unverified = _peek(token)
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise InvalidToken("algorithm", f"algorithm {alg!r} is not accepted (RS256, ES256)")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise InvalidToken("untrusted_issuer", "the token has no 'iss' claim")
        kid = header.get("kid")
        key = await self._signing_key(iss, kid if isinstance(kid, str) else None)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.settings.auth_audience,
                issuer=iss,
                leeway=self.settings.auth_clock_skew_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidSignatureError:
            raise InvalidToken("signature", "the token's signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise InvalidToken("expired", "the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("not_yet_valid", "the token is not valid yet (nbf/iat)") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("audience", "the token is not meant for this API (aud)") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken("missing_claim", str(error)) from None
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise InvalidToken("invalid", f"the token does not validate: {error}") from None
        account = claims.get(self.settings.auth_account_claim)
        if not isinstance(account, str) or not account.strip():
            raise InvalidToken(
                "missing_claim",
                f"the token has no account claim {self.settings.auth_account_claim!r}",
            )
        return Caller(
            account_id=account.strip(),
            roles=parse_roles(claims.get(self.settings.auth_role_claim)),
            issuer=iss,
            claims=claims,
        )


_validators: dict[int, TokenValidator] = {}


def validator_for(settings: Settings) -> TokenValidator:
    """One validator (and JWKS cache) per settings object."""
    found = _validators.get(id(settings))
    if found is None or found.settings is not settings:
        found = TokenValidator(settings)
        _validators.clear()
        _validators[id(settings)] = found
    return found


async def authenticate_header(authorization: str | None, role: Role | None) -> Caller | None:
    """The caller of a request with this Authorization header, checked against `role`.

    Returns None for public routes (`role` None). Raises `MissingToken` / `InvalidToken`
    (401) or `InsufficientRole` (403)."""
    if role is None:
        return None
    token = bearer_token(authorization)
    if token is None:
        raise MissingToken()
    caller = await validator_for(get_settings()).validate(token)
    if not caller.has_role(role):
        raise InsufficientRole(role, caller)
    return caller
