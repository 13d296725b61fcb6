"""Command line: `httprecap` and one module per subcommand (dev-time only, never in the layer)."""
