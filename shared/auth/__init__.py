"""Who is calling: bearer-token validation, roles and account scoping."""
