"""The API front end: ATOL Online v4/v5-compatible endpoints, the native bulk API, the intake behind them."""
