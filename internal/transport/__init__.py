"""Transport: hands records to the external extension without blocking (function process).

``buffer`` is the bounded queue the user's threads write to (drops are counted, never block);
``sender`` is the one background thread that batches, encodes and posts them over loopback.
"""
