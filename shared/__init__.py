"""tradingJournal's domain core: models, providers, storage, backtests, feed. No Azure Functions imports."""
