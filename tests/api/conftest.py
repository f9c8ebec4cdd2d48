"""The API tests call routes in-process through `testsupport.routes` (fixtures `call` and
`store` live in tests/conftest.py)."""
