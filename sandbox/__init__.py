"""The local Lambda sandbox: Runtime, Extensions and Telemetry APIs around the real awslambdaric.

Dev-time only: the stage of the demo and of the end-to-end tests.
"""
