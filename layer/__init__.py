"""Builds and publishes the Lambda layer zip (dev-time only)."""
