"""The smallest function: greets whoever the event names (runs in the sandbox's runtime)."""


def handler(event, context):  # type: ignore[no-untyped-def]
    print(f"greeting {event.get('name')!r}")
    return {"message": f"hello {event['name']}"}
