"""The external extension: a separate process registered with the Lambda Extensions API.

lambda_api/ talks to Lambda (Extensions and Telemetry APIs); collect/ receives the function
process's batches; aggregate/ builds one recap per invocation; ship/ sends it to the sinks.
Nothing here may import ``httprecap.internal`` or any dev-time package.
"""
