"""The live feed's shared vocabulary: trades, Finnhub frames, Web PubSub group naming and
connection strings. The relay's send path (batching publisher, senders, the keep-alive HTTP
pool) lives in `containerapps/relay/`, so the Function App does not install it."""
