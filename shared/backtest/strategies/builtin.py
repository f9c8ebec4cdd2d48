"""Built-in strategies: SMA/EMA cross, RSI and Bollinger reversion, Donchian breakout, MACD."""
