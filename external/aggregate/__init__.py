"""Aggregate: per-invocation state keyed by request id, and its recap (extension process)."""
