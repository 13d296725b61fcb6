"""Benchmarks (dev-time): each module measures one thing and prints a Markdown table."""
