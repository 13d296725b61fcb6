"""Capture: wrappers around HTTP clients that record each outbound call (function process).

One module per client. Each exposes ``TARGETS``: the module whose import triggers the patch,
and the function that applies it. ``call`` holds the shared exactly-once logic and ``record``
turns a finished call into its wire form.
"""
