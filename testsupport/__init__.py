"""Support code shared by `tests/` and `bench/`: minted tokens, the local host started in or
out of process, fake provider servers, bar fixtures and the hostile request bodies. Neither
deployed nor imported by the app; `tests/support/` keeps what only pytest uses."""
