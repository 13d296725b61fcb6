"""Ship: which recaps keep their calls under HTTPRECAP_KEEP (extension process).

With `HTTPRECAP_KEEP=notable`, a quiet invocation (it succeeded, none of its calls failed, no
finding fired, and it ran no longer than HTTPRECAP_KEEP_SLOW_MS) ships compact: every field
but its calls, with `"compact": true` so readers know calls were left out; `summary` still
covers them all. Everything else ships in full, as with the default `all`.

It runs once per recap before the sinks see it, on the fields alone: the calls' JSON pieces are
never joined or decoded for a recap that is compacted, which is what makes it cheaper to ship.
"""

from __future__ import annotations

from httprecap.external.aggregate.encode import EncodedRecap

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Callable

KEEP_NOTABLE = "notable"  # HTTPRECAP_KEEP's values are parsed in settings.py


def notable(recap: EncodedRecap, slow_ms: float) -> bool:
    """An error, a failed call, a finding, or a duration over `slow_ms`; or anything that
    cannot tell (no status, no summary): when in doubt a recap keeps its calls."""
    if recap.get("status") != "success":
        return True
    summary = recap.get("summary")
    if not isinstance(summary, dict) or summary.get("errors") != 0:
        return True
    if recap.get("findings") or summary.get("findings"):
        return True
    duration = recap.get("durationMs")
    return not isinstance(duration, (int, float)) or duration > slow_ms


def compact(recap: EncodedRecap) -> EncodedRecap:
    """The recap without its calls, marked `compact`."""
    return EncodedRecap({**recap.fields, "calls": [], "compact": True}, [], [], [])


def keep_policy(mode: str, slow_ms: float) -> Callable[[EncodedRecap], EncodedRecap] | None:
    """What the shipper applies to each recap: nothing for `all`."""
    if mode != KEEP_NOTABLE:
        return None

    def keep(recap: EncodedRecap) -> EncodedRecap:
        if not recap.pieces or notable(recap, slow_ms):
            return recap
        return compact(recap)

    return keep
