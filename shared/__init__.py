"""The domain core: models, providers, storage, backtests, feed (no azure.functions imports)."""
