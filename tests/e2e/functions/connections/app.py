"""A function that calls one URL twice through one client, on one session or a session per
call, with the timeout its event names (connection_steps.py), and says what each returned."""

from connection_steps import run_steps


def handler(event, context):
    return {"results": run_steps(event["steps"])}
