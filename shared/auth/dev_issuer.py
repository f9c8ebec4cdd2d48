"""The local dev OIDC issuer: one RSA key kept under LOCAL_DATA_DIR, its JWKS, and token minting."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.config import Settings, get_settings

ALGORITHM = "RS256"


@dataclass(frozen=True)
class DevKey:
    """The dev issuer's private key, its public JWK and key id (RFC 7638 thumbprint)."""

    private_key: rsa.RSAPrivateKey
    kid: str
    public_jwk: dict[str, Any]


def _thumbprint(jwk: dict[str, Any]) -> str:
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _create_key_file(path: Path) -> None:
    """Write a fresh key to `path` (mode 0600) unless another process got there first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


_cache: dict[Path, tuple[float, DevKey]] = {}
_lock = threading.Lock()


def load_dev_key(path: Path) -> DevKey:
    """The key at `path`, generated on first use; cached until the file changes."""
    with _lock:
        if not path.exists():
            _create_key_file(path)
        mtime = path.stat().st_mtime
        cached = _cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key; delete it to regenerate")
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(loaded.public_key(), as_dict=True)
        kid = _thumbprint(jwk)
        jwk.update(kid=kid, use="sig", alg=ALGORITHM)
        key = DevKey(private_key=loaded, kid=kid, public_jwk=jwk)
        _cache[path] = (mtime, key)
        return key


def dev_key(settings: Settings | None = None) -> DevKey:
    return load_dev_key((settings or get_settings()).dev_issuer_key_path)


def jwks(settings: Settings | None = None) -> dict[str, Any]:
    """The dev issuer's JSON Web Key Set."""
    return {"keys": [dev_key(settings).public_jwk]}


def discovery(settings: Settings | None = None, jwks_uri: str | None = None) -> dict[str, Any]:
    """The dev issuer's OpenID discovery document: `issuer` is the exact 'iss' of its tokens;
    `jwks_uri` is where the keys are served (`{issuer}/jwks` unless the host says otherwise,
    as when DEV_ISSUER names one issuer for several hosts on ephemeral ports)."""
    settings = settings or get_settings()
    iss = settings.dev_issuer_url
    return {
        "issuer": iss,
        "jwks_uri": jwks_uri or f"{iss}/jwks",
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["sub", "iss", "aud", "exp", "nbf", "iat", settings.auth_role_claim],
    }


def mint_token(
    role: str | list[str] = "trader",
    account: str = "dev",
    *,
    minutes: float = 60,
    settings: Settings | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """A dev-issuer bearer token for `account` holding `role` (a role or a list of roles)."""
    settings = settings or get_settings()
    key = dev_key(settings)
    now = int(time.time())
    roles = [role] if isinstance(role, str) else list(role)
    claims: dict[str, Any] = {
        "iss": settings.dev_issuer_url,
        "aud": settings.auth_audience,
        "iat": now,
        "nbf": now,
        "exp": now + int(minutes * 60),
        settings.auth_role_claim: roles,
        "name": account,
    }
    claims[settings.auth_account_claim] = account
    claims.setdefault("sub", account)
    claims.update(extra_claims or {})
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
