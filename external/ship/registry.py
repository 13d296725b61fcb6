"""Ship: turns HTTPRECAP_SINKS into sink objects (extension process).

`stdout`, `emf`, `file://PATH`, `http(s)://URL`, `kinesis://STREAM`, `firehose://STREAM`,
`otlp+http://HOST:PORT`. A spec that is unknown or malformed costs a warning, never the
other sinks. Each sink module is imported only when configured.
"""

from __future__ import annotations

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping

    from httprecap.external.ship.sink_base import Sink


def _build(spec: str, headers: tuple[tuple[str, str], ...], environ: Mapping[str, str]) -> Sink:
    scheme, sep, rest = spec.partition("://")
    scheme = scheme.lower() if sep else spec.lower()
    if not sep and scheme == "stdout":
        from httprecap.external.ship.stdout import StdoutSink

        return StdoutSink()
    if not sep and scheme == "emf":
        from httprecap.external.ship.emf import EmfSink

        return EmfSink.from_environ(environ)
    if sep and scheme == "file":
        from httprecap.external.ship.file import FileSink

        return FileSink(rest)
    if sep and scheme in ("http", "https"):
        from httprecap.external.ship.http_post import HttpSink

        return HttpSink(spec, headers)
    if sep and scheme == "kinesis":
        from httprecap.external.ship.kinesis import KinesisSink

        return KinesisSink(rest, environ)
    if sep and scheme == "firehose":
        from httprecap.external.ship.firehose import FirehoseSink

        return FirehoseSink(rest, environ)
    if sep and scheme == "otlp+http":
        from httprecap.external.ship.otlp import OtlpSink

        return OtlpSink(spec, environ.get("AWS_REGION"))
    raise ValueError("unknown sink; expected stdout, emf, file://PATH, http(s)://URL, "
                     "kinesis://STREAM, firehose://STREAM or otlp+http://HOST:PORT")


def build_sinks(specs: tuple[str, ...], headers: tuple[tuple[str, str], ...],
                environ: Mapping[str, str]) -> tuple[list[Sink], list[str]]:
    """The sinks named in `specs`, and a warning for each one that could not be built."""
    sinks: list[Sink] = []
    warnings: list[str] = []
    for spec in dict.fromkeys(specs):  # a sink named twice would get every recap twice
        try:
            sinks.append(_build(spec, headers, environ))
        except ValueError as exc:
            warnings.append(f"HTTPRECAP_SINKS: {spec!r} ignored ({exc})")
    return sinks, warnings
