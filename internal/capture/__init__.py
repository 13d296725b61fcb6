"""Capture: wrappers around HTTP clients that record each outbound call (function process).

One module per client. Each exposes ``TARGETS``: the module whose import triggers the patch,
and the function that applies it. ``call`` holds the shared exactly-once logic and builds each
call's record (``httprecap.internal.transport.record``), handed to the sink bootstrap gave it
(``call.configure``); transport encodes and posts it. Nothing in transport imports capture.
"""
