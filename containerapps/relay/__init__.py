"""The Finnhub relay: trades from Finnhub's websocket to Web PubSub groups, the lake and quotes."""
