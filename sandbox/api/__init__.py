"""The sandbox's HTTP APIs: Runtime (2018-06-01), Extensions (2020-01-01), Telemetry (2022-07-01).

Dev-time: served by the sandbox process on one loopback port, AWS_LAMBDA_RUNTIME_API.
"""
