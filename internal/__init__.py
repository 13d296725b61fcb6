"""The internal extension: runs inside the function (runtime) process.

capture/ wraps HTTP clients and builds one record per logical call; transport/ hands the
records to the external extension without blocking the user's code. Nothing here may import
``httprecap.external`` or any dev-time package, and nothing heavy at import time.
"""
