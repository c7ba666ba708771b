"""Risk engine: volatility and margin recommendations, crash scenarios, a vectorised cascade simulator,
a predictive liquidation-risk model and the stress report (``fulcrum risk ...``). Python only; nothing
here triggers anything on chain: parameters change only through governance proposals."""
