"""Capture: wraps the standard library's ``http.client.HTTPConnection`` (function process).

Covers any user of ``HTTPConnection.request``; ``urllib.request`` opens its call one level up
(capture/urllib_request.py), and each request it sends here is an attempt of that call (a
redirect hop). A call opens in ``request`` (where connection errors surface: DNS, refused, TLS,
and where the body size is known) and its response's head arrives in ``getresponse``; the open
call rides on the connection object, which carries one request at a time. ``getresponse`` is
hooked on that one connection only, as an instance attribute, until its response arrives:
urllib3 overrides ``request`` but calls http.client's ``getresponse``, so a class-level hook
there would cost every urllib3, requests and botocore call one more wrapper; this way they pay
nothing here. The low-level ``putrequest``/``endheaders`` API (``xmlrpc.client``) is not
captured: hooking it would cost every urllib3 call two more wrappers.

The body comes after ``getresponse``, read by the user. So the call is handed over once the
body is done (read to its end, broken, closed) or its invocation ends, whichever comes first
(`_Body`): a body that breaks midway shows its error and the bytes that did arrive. Its
duration still ends at the response's head. ``HTTPResponse`` is also what urllib3 reads its
bodies from: the body is followed through hooks on the one response object, never on the
class, so urllib3 pays nothing for it.

Through a forward proxy the connection's host is the proxy's: the request target is then an
absolute URL (``GET http://host/path``), or, for TLS, the connection tunnels to
``_tunnel_host`` (``CONNECT``). The call names its target, and the proxy beside it.

This module is imported at the first call through ``HTTPConnection.request`` (see
``bootstrap.ON_FIRST_CALL``), whose calls `on_request` then takes: urllib3 imports http.client
without ever calling it there.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from types import MethodType, ModuleType
from typing import Any

from httprecap.internal import diagnostics
from httprecap.internal.capture import call as calls
from httprecap.internal.capture import connections, reading, sending
from httprecap.internal.transport.record import Attempt

MODULE = "http.client"
LIBRARY = "http.client"
ATTRIBUTE = "_httprecap_call"
HOOK = "getresponse"
ABSOLUTE = ("http://", "https://")
BODY = reading.BODY
BODY_ARGUMENT = 2  # request(method, url, body, headers, ...)


def _describe(call: calls.Call, connection: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
    call.timeout = connection.timeout  # (the global default's sentinel: transport/timeouts.py)
    call.method = args[0] if args else kwargs.get("method", "")
    call.target = target = args[1] if len(args) > 1 else kwargs.get("url", "")
    scheme = "https" if type(connection).default_port == 443 else "http"
    tunnel_host = getattr(connection, "_tunnel_host", None)
    if tunnel_host:  # through a proxy's tunnel: the call goes beyond the connection's host
        call.origin = (scheme, tunnel_host, getattr(connection, "_tunnel_port", None) or 443)
        call.proxy = (connection.host, connection.port)
    elif isinstance(target, str) and target.startswith(ABSOLUTE):
        # Absolute-form: the connection is a forward proxy's, unless it is the target's own.
        if target.split("/", 3)[2] not in (connection.host, f"{connection.host}:"
                                           f"{connection.port}"):
            call.proxy = (connection.host, connection.port)
    else:
        call.origin = (scheme, connection.host, connection.port)
    calls.note_request(call, args[2] if len(args) > 2 else kwargs.get("body"),
                       args[3] if len(args) > 3 else kwargs.get("headers"))


def _outcome(call: calls.Call, response: Any) -> None:
    call.status = response.status
    call.bytes_received = response.length
    if calls.options.headers:
        call.response_headers = calls.header_pairs(response.getheaders())


def on_request(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
    outer = calls.local.slot.call
    if outer is not None and outer.library == LIBRARY:
        # Only urllib.request's opener parks an http.client call in a slot: this request is
        # one of its hops.
        return _send_hop(outer, wrapped, instance, args, kwargs)
    call = calls.open_call(LIBRARY, _describe, instance, args, kwargs, nest=False)
    if call is None or not _park(instance, call, None):
        return wrapped(*args, **kwargs)
    if call.bytes_sent is None:  # a streamed body: counted as it is sent
        args, kwargs = sending.counted_arguments(call, args, kwargs, BODY_ARGUMENT)
    try:
        return wrapped(*args, **kwargs)
    except BaseException as exc:
        _unpark(instance)
        calls.close(call, exc=exc)
        raise


def _send_hop(outer: calls.Call, wrapped: Callable[..., Any], connection: Any,
              args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A request urllib.request's call sends: its attempt is listed once its response's head
    arrives (or the request fails)."""
    hop = _hop(outer, connection, args, kwargs)
    if hop is None or not _park(connection, hop, outer):
        return wrapped(*args, **kwargs)
    if hop.bytes_sent is None:  # a streamed body: the call's size, if it is its first request
        args, kwargs = sending.counted_arguments(
            outer if outer.bytes_sent is None else hop, args, kwargs, BODY_ARGUMENT)
    try:
        return wrapped(*args, **kwargs)
    except BaseException as exc:
        _unpark(connection)
        _list_hop(outer, hop, None, exc)
        raise


def _hop(outer: calls.Call, connection: Any, args: tuple[Any, ...],
         kwargs: dict[str, Any]) -> calls.Call | None:
    try:
        hop = calls.Call(LIBRARY, outer.slot)
        _describe(hop, connection, args, kwargs)
        if not outer.attempts:  # the first request on the wire describes the call
            _take_description(outer, hop)
        return hop
    except Exception as exc:
        diagnostics.swallowed("capture.http_client.hop", exc)
        return None


def _take_description(call: calls.Call, hop: calls.Call) -> None:
    call.method, call.origin, call.target = hop.method, hop.origin, hop.target
    call.bytes_sent, call.proxy, call.timeout = hop.bytes_sent, hop.proxy, hop.timeout
    call.request_headers, call.request_body = hop.request_headers, hop.request_body


def _list_hop(outer: calls.Call, hop: calls.Call, response: Any,
              exc: BaseException | None) -> None:
    try:
        status = None if response is None else response.status
        size = None if response is None else response.length
        calls.add_attempt(outer, Attempt(
            hop.wall_offset_us + hop.t0 * 1e6, (perf_counter() - hop.t0) * 1000.0, status,
            None if exc is None else calls.describe_error(exc), hop.origin, hop.target, size))
    except Exception as failure:
        diagnostics.swallowed("capture.http_client.list_hop", failure)


def _park(connection: Any, call: calls.Call, outer: calls.Call | None) -> bool:
    """Keep `call` (a hop of `outer`'s, if given) on `connection` until its response's head
    arrives; False if it cannot be (the call is forgotten)."""
    try:
        state = connection.__dict__
        previous = state.get(ATTRIBUTE)
        if previous is not None and previous[1] is None:
            calls.discard(previous[0])  # a request the caller abandoned before its response
        state[ATTRIBUTE] = call, outer
        # Shadows the class's method on this object only; removed when it runs.
        state[HOOK] = MethodType(_getresponse, connection)
        return True
    except Exception as exc:
        diagnostics.swallowed("capture.http_client.park", exc)
        if outer is None:
            calls.discard(call)
        return False


def _unpark(connection: Any) -> None:
    try:
        state = connection.__dict__
        state.pop(HOOK, None)
        state.pop(ATTRIBUTE, None)
    except Exception as exc:
        diagnostics.swallowed("capture.http_client.unpark", exc)


def _getresponse(connection: Any, *args: Any, **kwargs: Any) -> Any:
    """`connection.getresponse` while a captured request waits for its response."""
    state = connection.__dict__
    state.pop(HOOK, None)
    parked = state.pop(ATTRIBUTE, None)
    getresponse = connection.getresponse  # the class's, now that ours is gone
    if parked is None:
        return getresponse(*args, **kwargs)
    call, outer = parked
    try:
        # Passed on, never bound here: a kept traceback through this frame would keep it.
        return _answered(call, outer, getresponse(*args, **kwargs))
    except BaseException as exc:
        if outer is not None:
            _list_hop(outer, call, None, exc)
        else:
            calls.close(call, exc=exc)
        raise


def _answered(call: calls.Call, outer: calls.Call | None, response: Any) -> Any:
    """The head of `call`'s response arrived: list the hop, or follow the call's body."""
    if outer is not None:
        _list_hop(outer, call, response, None)
    else:
        follow(call, response)
    return response


def follow(call: calls.Call, response: Any) -> None:
    """Close `call` with `response`'s head; if its body is still to come, the call is handed
    over once that body is done (`_Body`). Never raises."""
    try:
        _outcome(call, response)
        if response.fp is None or response.length == 0:  # no body, or none to wait for
            calls.close(call)
            return
        body = _Body()
        reading.follow(call, response, body, _following(type(response)))
    except Exception as exc:
        diagnostics.swallowed("capture.http_client.follow", exc)
        calls.close(call)


class _Body(reading.Body):
    """A followed response's body: the bytes read, counted by its read methods."""

    __slots__ = ("depth",)

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # a read method calling another (read -> readinto) counts once


def _ended(response: Any, exc: BaseException | None) -> None:
    """`response`'s body was read to its end, broke with `exc`, or was closed: it is no
    longer followed, and its call goes to the sink. Never raises."""
    try:
        response.__class__ = response.__class__._httprecap_followed
        call, body = response.__dict__.pop(BODY)
        if exc is not None:
            body.error = calls.describe_error(exc)
            partial = getattr(exc, "partial", None)  # IncompleteRead: what did arrive
            if isinstance(partial, bytes):
                body.received += len(partial)
        elif response.fp is None:  # read to its end (http.client let go of the socket)
            body.whole = True
            if response.length:  # the connection closed before the length its head declared
                body.error = ("IncompleteRead", f"IncompleteRead({body.received} bytes read, "
                              f"{response.length} more expected)")  # (http.client's words)
        reading.body_done(call)
    except Exception as failure:
        diagnostics.swallowed("capture.http_client.ended", failure)


def _read(response: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run the response class's read method `name`, counting what it returns."""
    followed = response.__dict__.get(BODY)
    method = getattr(response.__class__._httprecap_followed, name)
    if followed is None or followed[1].depth:
        return method(response, *args, **kwargs)
    body = followed[1]
    body.depth = 1
    try:
        return _counted(response, body, method(response, *args, **kwargs))
    except BaseException as exc:
        _ended(response, exc)
        raise
    finally:
        body.depth = 0


def _counted(response: Any, body: _Body, result: Any) -> Any:
    try:
        body.received += result if isinstance(result, int) else len(result)
        if response.fp is None:  # http.client lets go of the socket at the body's end
            _ended(response, None)
    except Exception as exc:
        diagnostics.swallowed("capture.http_client.counted", exc)
    return result


def _reader(name: str) -> Callable[..., Any]:
    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _read(self, name, args, kwargs)

    read.__name__ = read.__qualname__ = name
    return read


def _close(self: Any) -> None:
    """`close` of a response whose body is followed."""
    followed = self.__class__._httprecap_followed
    if BODY in self.__dict__:
        _ended(self, None)
    followed.close(self)


# What a followed response does differently: its read methods count (iteration and
# readlines go through readline), and its end settles the call.
_FOLLOWING = {**{name: _reader(name) for name in ("read", "read1", "readinto", "readline")},
              "close": _close}
_classes: dict[type, type] = {}


def _following(cls: type) -> type:
    """`cls` as its followed response's class (capture/reading.py `following_class`)."""
    return reading.following_class(cls, _FOLLOWING, _classes)


def patch_connect(module: ModuleType) -> None:
    """What `on_request` needs besides: the hooks that time its connections. (`on_request`
    itself takes ``HTTPConnection.request``'s calls from bootstrap's stand-in, which loads
    this module at the first of them.)"""
    connections.patch(connections.patch_http_client)
