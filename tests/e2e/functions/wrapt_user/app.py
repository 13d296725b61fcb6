"""A function that vendors its own (old) wrapt and wraps its handler with it, as users do for
their own middleware; runs the wire steps (wire_steps.py, copied beside it) inside."""

import wrapt
from wire_steps import client_modules, run_steps

WRAPPED = []


@wrapt.decorator
def audited(wrapped, instance, args, kwargs):
    WRAPPED.append(wrapped.__name__)
    return wrapped(*args, **kwargs)


@audited
def handler(event, context):
    return {"requestId": context.aws_request_id, "results": run_steps(event["steps"]),
            "modules": client_modules(), "wrappedBy": list(WRAPPED),
            "wraptFile": wrapt.__file__, "wraptVersion": wrapt.__version__}
