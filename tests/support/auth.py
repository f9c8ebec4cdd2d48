"""Bearer headers for tests: a real dev-issuer token for `role` and `account`."""

from __future__ import annotations


def auth_headers(role: str = "trader", account: str = "alice") -> dict[str, str]:
    """Headers carrying a valid dev-issuer token (replaced by the auth work, issue 6)."""
    return {"Authorization": f"Bearer dev:{role}:{account}"}
