"""Bearer-token validation against the dev issuer and a second local OIDC issuer."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import azure.functions as func
import jwt
import pytest

from functions.http import endpoint, json_response
from shared.auth import dev_issuer
from shared.auth.caller import Caller
from shared.auth.jwks import JwksCache
from shared.auth.tokens import (
    InsufficientRole,
    InvalidToken,
    MissingToken,
    TokenValidator,
    authenticate_header,
    parse_roles,
)
from shared.config import AZURE_PLATFORM_VARIABLES, SettingsError, get_settings, load_settings
from tests.support.oidc_issuer import LocalIssuer
from testsupport.auth import auth_headers

AUDIENCE = "api://tradingjournal"


@pytest.fixture
async def issuer() -> AsyncIterator[LocalIssuer]:
    server = LocalIssuer(audience=AUDIENCE)
    server.add_key("rsa-1", "RS256")
    server.add_key("ec-1", "ES256")
    await server.start()
    yield server
    await server.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def validator(issuer: LocalIssuer, clock: FakeClock) -> TokenValidator:
    settings = load_settings(auth_issuers=[issuer.url], environment="prod")
    cache = JwksCache(ttl_seconds=3600, refetch_seconds=30, clock=clock)
    return TokenValidator(settings, cache)


async def reason_of(validator: TokenValidator, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await validator.validate(token)
    return caught.value.reason


async def test_rs256_and_es256_tokens_from_a_configured_issuer_validate(issuer, validator):
    rsa_caller = await validator.validate(issuer.mint("rsa-1", sub="carol", roles=["admin"]))
    ec_caller = await validator.validate(issuer.mint("ec-1", sub="dave", roles="viewer trader"))
    assert (rsa_caller.account_id, rsa_caller.roles) == ("carol", frozenset({"admin"}))
    assert (ec_caller.account_id, ec_caller.roles) == ("dave", frozenset({"viewer", "trader"}))
    assert rsa_caller.issuer == issuer.url
    assert issuer.jwks_hits == 1


async def test_tampered_signature_is_rejected(issuer, validator):
    token = issuer.mint("rsa-1")
    head, payload, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["roles"] = ["admin"]
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    assert await reason_of(validator, f"{head}.{forged}.{signature}") == "signature"
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    assert await reason_of(validator, f"{head}.{payload}.{flipped}") == "signature"


async def test_wrong_issuer_wrong_audience_expired_and_not_yet_valid(issuer, validator):
    assert await reason_of(validator, issuer.mint("rsa-1", iss="https://evil.example/")) == (
        "untrusted_issuer"
    )
    assert await reason_of(validator, issuer.mint("rsa-1", aud="api://other")) == "audience"
    assert await reason_of(validator, issuer.mint("rsa-1", exp_in=-120)) == "expired"
    assert await reason_of(validator, issuer.mint("rsa-1", nbf_in=300)) == "not_yet_valid"


async def test_clock_skew_is_allowed(issuer, validator):
    assert validator.settings.auth_clock_skew_seconds == 60
    caller = await validator.validate(issuer.mint("rsa-1", exp_in=-20, nbf_in=20))
    assert caller.account_id == "carol"


async def test_unknown_kid_refetches_once_within_the_rate_limit(issuer, validator, clock):
    await validator.validate(issuer.mint("rsa-1"))
    assert issuer.jwks_hits == 1
    issuer.add_key("rsa-2", published=False)
    clock.now += 31
    assert await reason_of(validator, issuer.mint("rsa-2")) == "unknown_kid"
    assert issuer.jwks_hits == 2
    clock.now += 1
    assert await reason_of(validator, issuer.mint("rsa-2")) == "unknown_kid"
    assert issuer.jwks_hits == 2, "a second unknown kid inside the refetch gap must not refetch"


async def test_rotated_key_is_picked_up_by_refetch_on_unknown_kid(issuer, validator, clock):
    await validator.validate(issuer.mint("rsa-1"))
    issuer.add_key("rsa-2")
    clock.now += 31
    caller = await validator.validate(issuer.mint("rsa-2", sub="erin"))
    assert caller.account_id == "erin"
    assert issuer.jwks_hits == 2
    await validator.validate(issuer.mint("rsa-1"))
    await validator.validate(issuer.mint("rsa-2"))
    assert issuer.jwks_hits == 2, "known kids are served from the cache"


async def test_jwks_is_refetched_after_its_ttl(issuer, validator, clock):
    await validator.validate(issuer.mint("rsa-1"))
    clock.now += 3599
    await validator.validate(issuer.mint("rsa-1"))
    assert issuer.jwks_hits == 1
    clock.now += 2
    await validator.validate(issuer.mint("rsa-1"))
    assert issuer.jwks_hits == 2


async def test_symmetric_and_unsigned_algorithms_are_refused(issuer, validator):
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "x", "exp": now + 60, "roles": ["admin"]}
    hs = jwt.encode(claims, "secret-long-enough-for-hmac-sha256!!", algorithm="HS256")
    none = jwt.encode(claims, "", algorithm="none")
    assert await reason_of(validator, hs) == "algorithm"
    assert await reason_of(validator, none) == "algorithm"
    assert await reason_of(validator, "not-a-jwt") == "malformed"


async def test_missing_account_claim_is_rejected(issuer, validator):
    token = issuer.mint("rsa-1", sub="", extra={})
    assert await reason_of(validator, token) == "missing_claim"


async def test_custom_role_and_account_claims(issuer, clock):
    settings = load_settings(
        auth_issuers=[issuer.url + "/"],
        environment="prod",
        auth_role_claim="app_roles",
        auth_account_claim="oid",
    )
    validator = TokenValidator(settings, JwksCache(clock=clock))
    token = issuer.mint("rsa-1", roles=[], extra={"app_roles": "admin,viewer", "oid": "o-1"})
    caller = await validator.validate(token)
    assert caller.account_id == "o-1"
    assert caller.roles == frozenset({"admin", "viewer"})


def test_parse_roles_accepts_lists_and_strings_and_drops_unknown_roles():
    assert parse_roles(["trader", "owner"]) == frozenset({"trader"})
    assert parse_roles("viewer, admin  trader") == frozenset({"viewer", "admin", "trader"})
    assert parse_roles(None) == frozenset()
    assert parse_roles(42) == frozenset()


async def test_unreachable_issuer_is_a_503_not_a_401(clock):
    settings = load_settings(auth_issuers=["http://127.0.0.1:9/nowhere"], environment="prod")
    validator = TokenValidator(settings, JwksCache(clock=clock, timeout_seconds=2))
    server = LocalIssuer(audience=AUDIENCE)
    server.add_key("k")
    server.url = "http://127.0.0.1:9/nowhere"
    from shared.errors import Unavailable

    with pytest.raises(Unavailable):
        await validator.validate(server.mint("k"))


# --- the dev issuer -------------------------------------------------------------------------


async def test_dev_tokens_validate_in_process_without_http():
    token = dev_issuer.mint_token("trader", "alice")
    caller = await authenticate_header(f"Bearer {token}", "viewer")
    assert caller is not None
    assert (caller.account_id, caller.roles) == ("alice", frozenset({"trader"}))
    assert caller.issuer == get_settings().dev_issuer_url


async def test_dev_issuer_is_not_trusted_outside_local_and_ci(monkeypatch):
    token = dev_issuer.mint_token("admin", "mallory")
    monkeypatch.setenv("ENVIRONMENT", "prod")
    get_settings.cache_clear()
    with pytest.raises(InvalidToken) as caught:
        await authenticate_header(f"Bearer {token}", "viewer")
    assert caught.value.reason == "untrusted_issuer"


async def test_dev_token_from_another_key_is_an_unknown_kid(tmp_path, monkeypatch):
    monkeypatch.setenv("DEV_ISSUER_KEY_FILE", str(tmp_path / "other.pem"))
    get_settings.cache_clear()
    foreign = dev_issuer.mint_token("admin", "mallory")
    monkeypatch.setenv("DEV_ISSUER_KEY_FILE", str(tmp_path / "mine.pem"))
    get_settings.cache_clear()
    with pytest.raises(InvalidToken) as caught:
        await authenticate_header(f"Bearer {foreign}", "viewer")
    assert caught.value.reason == "unknown_kid"


async def test_role_ladder_missing_and_malformed_headers():
    viewer = auth_headers("viewer", "vic")["Authorization"]
    admin = auth_headers("admin", "ada")["Authorization"]
    with pytest.raises(InsufficientRole):
        await authenticate_header(viewer, "trader")
    assert (await authenticate_header(admin, "trader")).account_id == "ada"  # type: ignore[union-attr]
    with pytest.raises(MissingToken):
        await authenticate_header(None, "viewer")
    with pytest.raises(InvalidToken):
        await authenticate_header("Basic dXNlcjpwYXNz", "viewer")
    assert await authenticate_header(None, None) is None


def test_dev_key_file_is_created_once_with_mode_0600(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "key.pem"
    first = dev_issuer.load_dev_key(path)
    again = dev_issuer.load_dev_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.kid == again.kid
    assert list(path.parent.iterdir()) == [path]
    monkeypatch.setenv("DEV_ISSUER_KEY_FILE", str(path))
    get_settings.cache_clear()
    assert dev_issuer.jwks()["keys"][0]["kid"] == first.kid
    assert dev_issuer.discovery()["jwks_uri"] == get_settings().dev_issuer_url + "/jwks"


def test_token_cli_prints_a_token_the_api_accepts(isolated_settings: Path):
    env = {**os.environ, "LOCAL_DATA_DIR": str(isolated_settings)}
    out = subprocess.run(
        [sys.executable, "-m", "devhost.token", "--role", "trader", "--account", "alice"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout.strip()
    claims = jwt.decode(out, options={"verify_signature": False})
    assert claims["sub"] == "alice"
    assert claims["roles"] == ["trader"]
    key = dev_issuer.dev_key()
    assert jwt.get_unverified_header(out)["kid"] == key.kid


# --- the HTTP edge --------------------------------------------------------------------------


@endpoint(role="trader")
async def _whoami(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return json_response({"account": caller.account_id})


def _request(headers: dict[str, str]) -> func.HttpRequest:
    return func.HttpRequest("GET", "http://127.0.0.1/api/whoami", headers=headers, body=b"")


async def test_endpoint_maps_auth_failures_to_problem_json_with_a_challenge():
    anonymous = await _whoami(_request({}))
    assert anonymous.status_code == 401
    assert anonymous.mimetype == "application/problem+json"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    bad = await _whoami(_request({"Authorization": "Bearer a.b.c"}))
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    low = await _whoami(_request(auth_headers("viewer", "vic")))
    assert low.status_code == 403
    assert json.loads(low.get_body())["status"] == 403
    ok = await _whoami(_request({**auth_headers("trader", "tom"), "X-Request-Id": "r-1"}))
    assert ok.status_code == 200
    assert json.loads(ok.get_body()) == {"account": "tom"}
    assert ok.headers["X-Client-Request-Id"] == "r-1"
    assert len(ok.headers["X-Request-Id"]) == 32


async def test_concurrent_first_requests_share_one_jwks_fetch(issuer, validator):
    import asyncio

    tokens = [issuer.mint("rsa-1", sub=f"u{i}") for i in range(10)]
    callers = await asyncio.gather(*[validator.validate(token) for token in tokens])
    assert [c.account_id for c in callers] == [f"u{i}" for i in range(10)]
    assert issuer.jwks_hits == 1
    assert issuer.discovery_hits == 1


# --- prod safety ----------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_dev_auth_enabled_outside_local_and_ci_stops_start_up(monkeypatch, environment):
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("DEV_AUTH_ENABLED", "true")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert f"DEV_AUTH_ENABLED=true is refused with ENVIRONMENT={environment}" in message


@pytest.mark.parametrize("environment", ["local", "ci"])
def test_dev_auth_may_be_enabled_on_local_and_ci(monkeypatch, environment):
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("DEV_AUTH_ENABLED", "true")
    assert load_settings().dev_auth is True


@pytest.mark.parametrize("variable", AZURE_PLATFORM_VARIABLES)
def test_in_azure_an_unset_environment_is_prod_not_local(monkeypatch, variable):
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    for name in AZURE_PLATFORM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert load_settings().environment == "local"
    monkeypatch.setenv(variable, "tj-func-prod")
    settings = load_settings()
    assert settings.environment == "prod"
    assert settings.dev_auth is False
    monkeypatch.setenv("DEV_AUTH_ENABLED", "true")
    with pytest.raises(SettingsError, match="ENVIRONMENT=prod"):
        load_settings()


async def test_dev_issuer_match_is_exact(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:7071")
    get_settings.cache_clear()
    exact = get_settings().dev_issuer_url
    assert exact == "http://127.0.0.1:7071/dev-issuer"
    good = dev_issuer.mint_token("admin", "mallory")
    assert (await authenticate_header(f"Bearer {good}", "admin")) is not None
    near_misses = [
        "http://127.0.0.1:7072/dev-issuer",  # another loopback port (another local process)
        "http://127.0.0.1/dev-issuer",
        "https://127.0.0.1:7071/dev-issuer",
        "http://localhost:7071/dev-issuer",
        "http://[::1]:7071/dev-issuer",
        "http://127.0.0.1:7071/dev-issuer/",
        "http://127.0.0.1:7071/Dev-Issuer",
        "http://127.0.0.1:7071/x/dev-issuer",
        "http://127.0.0.1:7071/dev-issuer?x=1",
    ]
    for iss in near_misses:
        token = dev_issuer.mint_token("admin", "mallory", extra_claims={"iss": iss})
        with pytest.raises(InvalidToken) as caught:
            await authenticate_header(f"Bearer {token}", "viewer")
        assert caught.value.reason == "untrusted_issuer", iss


async def test_the_dev_issuer_setting_names_the_exact_iss(monkeypatch):
    monkeypatch.setenv("DEV_ISSUER", "http://127.0.0.1:7071/dev-issuer")
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:50123")
    get_settings.cache_clear()
    token = dev_issuer.mint_token("trader", "alice")
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == (
        "http://127.0.0.1:7071/dev-issuer"
    )
    caller = await authenticate_header(f"Bearer {token}", "trader")
    assert caller is not None
    assert caller.account_id == "alice"


def test_role_names_are_case_sensitive():
    assert parse_roles(["Admin", "TRADER", "viewer"]) == frozenset({"viewer"})
    assert parse_roles("Admin trader") == frozenset({"trader"})
    assert parse_roles([" admin", 3, None]) == frozenset()


async def test_a_token_with_capitalised_roles_holds_no_role():
    token = dev_issuer.mint_token(["Admin", "Trader"], "mallory")
    with pytest.raises(InsufficientRole) as caught:
        await authenticate_header(f"Bearer {token}", "viewer")
    assert "the token holds: none" in str(caught.value)
