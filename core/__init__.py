"""httprecap: a per-invocation recap of every outbound HTTP call of a Python Lambda function.

Layout (process boundary first, data flow second):

- ``httprecap`` (folder ``core/``): the shared contract, standard library only — settings,
  the wire format between the two halves, redaction, errors.
- ``httprecap.internal`` (``internal/``): runs in the function process — capture, transport.
- ``httprecap.external`` (``external/``): the Lambda extension process — collect, aggregate, ship.
- ``httprecap.layer``, ``httprecap.sandbox``, ``httprecap.view``, ``httprecap.cli``: dev-time
  tools (build/publish the layer, the local Lambda, the recap viewer, the command line). They
  never ship in the layer.
"""

__version__ = "0.1.0"
