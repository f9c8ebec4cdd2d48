"""Who is calling: bearer-token validation, roles and account scoping."""

from shared.auth.caller import ANONYMOUS, Caller, Role
from shared.auth.tokens import (
    InsufficientRole,
    InvalidToken,
    MissingToken,
    TokenValidator,
    authenticate_header,
)

__all__ = [
    "ANONYMOUS",
    "Caller",
    "InsufficientRole",
    "InvalidToken",
    "MissingToken",
    "Role",
    "TokenValidator",
    "authenticate_header",
]
