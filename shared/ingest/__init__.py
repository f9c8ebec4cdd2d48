"""Ingestion: raw archive, bar lake merges, quotes, sync state, planning, runs and backfill."""
