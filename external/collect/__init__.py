"""Collect: the loopback listener for the function process's batches (extension process)."""
