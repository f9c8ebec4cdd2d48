"""The authenticated caller of an API request and the role ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["viewer", "trader", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 1, "trader": 2, "admin": 3}


@dataclass(frozen=True)
class Caller:
    """An authenticated principal: its account id, roles and the token's claims."""

    account_id: str
    roles: frozenset[str]
    issuer: str = ""
    claims: dict[str, object] = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return max((ROLE_RANK.get(role, 0) for role in self.roles), default=0)

    def has_role(self, role: Role) -> bool:
        """Roles form a ladder: admin ⊇ trader ⊇ viewer."""
        return self.rank >= ROLE_RANK[role]

    @property
    def is_admin(self) -> bool:
        return self.has_role("admin")

    def can_see(self, owner_account_id: str) -> bool:
        return self.is_admin or owner_account_id == self.account_id


ANONYMOUS = Caller(account_id="", roles=frozenset())
