"""The demo: local stand-ins for what a function calls, and the `httprecap demo` run (dev-time)."""
