"""Bearer headers for tests: a real dev-issuer token for `role` and `account`."""

from __future__ import annotations

from shared.auth.dev_issuer import mint_token


def auth_headers(role: str = "trader", account: str = "alice") -> dict[str, str]:
    """Headers carrying a valid dev-issuer token, signed with the key under LOCAL_DATA_DIR
    (or DEV_ISSUER_KEY_FILE), so a local host started with the same environment accepts it."""
    return {"Authorization": f"Bearer {mint_token(role, account)}"}
