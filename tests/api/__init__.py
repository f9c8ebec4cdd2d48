"""Tests of the HTTP API: auth, conventions, watchlists, strategies, paper trading, audit."""
