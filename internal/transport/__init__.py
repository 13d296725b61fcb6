"""Transport: hands records to the external extension without blocking (function process).

``record`` defines what capture hands over (a call's `Record`, its `Attempt`s, an invocation's
`End`) and the `Sink` it hands them to; ``buffer`` is that sink, the bounded queue the user's
threads write to (drops are counted, never block); ``sender`` is the one background thread
that batches them, ``encode`` turns each into its wire message (redacted), and the sender posts
them over loopback. Nothing here imports capture: data flows capture -> transport only.
"""
