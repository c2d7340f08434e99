"""Deterministic backtests through the live code path (issue 8).

Bar files (`data`) become one stream of bar groups (`feed`, its contract
objects built without re-validation by `messages`); the engine (`engine`)
drives the ledger application, the simulated broker (`adapters.broker.sim`)
and a policy (`weights.WeightsPolicy`: the trading system's strategy;
`policy.AlternatingPolicy`: a fixed alternation for benchmarks and tests)
group by group, into a store of its own, deciding per group and committing per
batch (`staging`), with the cyclic garbage collector paused (`collector`); `run` ties it
together and measures it (`metrics`, `charts`); `from_ledger` replays a live
ledger's recorded window the same way.

This package imports nothing heavy by itself: the strategy maths (cvxpy,
scikit-learn) and matplotlib load only with `run`, `weights` and `charts`.
"""
