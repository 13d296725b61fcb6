"""Control plane: the Lambda Extensions API and Telemetry API clients (extension process)."""
