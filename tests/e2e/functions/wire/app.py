"""A wire-truth function: runs the steps its event lists (wire_steps.py) and says what each
returned, and which client versions it ran with."""

from wire_steps import client_modules, run_steps


def handler(event, context):
    return {"requestId": context.aws_request_id, "results": run_steps(event["steps"]),
            "modules": client_modules()}
