"""Patching: replaces a class attribute with a wrapper (runs in the function process).

Every capture point uses the one wrapper signature ``wrapper(wrapped, instance, args, kwargs)``,
wrapt's. A plain (synchronous) method, or a module's plain function, is replaced by a plain
function that calls the wrapper as wrapt would (a method bound to its instance): every HTTP call
passes three or four of these, and this costs half of wrapt's proxy per call (and a third of
its pure-Python twin). A module's builtin function (``os._exit``) is replaced the same way (its
stand-in's ``__wrapped__`` keeps ``inspect.signature`` right). Anything else (a coroutine or
generator method) gets wrapt's FunctionWrapper, which keeps what ``inspect`` says about it.

FunctionWrapper comes from the copy of wrapt 1.17.3's C extension vendored in the layer
(``httprecap._vendor.wrapt._wrappers``, a namespace package with nothing but the compiled
module): importing the full ``wrapt`` package costs ~190 ms (importlib.metadata, asyncio) and
wrapt 2.x's C module imports ``wrapt.exceptions`` by absolute name, which would tie us to the
user's wrapt. On a Python newer than every vendored build, wrapt's pure-Python ``wrappers.py``
(also vendored) serves; outside the layer (dev tree, tests) the installed ``wrapt`` does.
A user's own wrapt, of any version, is never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from threading import Lock
from types import FunctionType, MethodType
from typing import Any

from httprecap.internal import diagnostics

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]

# (owner, attribute name, original, wrapper object) for every patch in place, oldest first.
_applied: list[tuple[Any, str, Any, Any]] = []
_found: dict[str, Any] = {}


def function_wrapper_class() -> Any:
    """wrapt's FunctionWrapper type: the vendored C build if present, else installed wrapt."""
    if "FunctionWrapper" not in _found:
        _found["FunctionWrapper"] = _import_function_wrapper()
    return _found["FunctionWrapper"]


def _import_function_wrapper() -> Any:
    try:
        from httprecap._vendor.wrapt._wrappers import FunctionWrapper
    except ImportError:
        pass
    else:
        return FunctionWrapper
    try:  # a Python newer than every vendored build: wrapt's pure-Python twin
        from httprecap._vendor.wrapt.wrappers import FunctionWrapper
    except ImportError:
        from wrapt import FunctionWrapper
    return FunctionWrapper


def wrap(owner: Any, name: str, wrapper: Wrapper) -> bool:
    """Wrap `owner.name` (defined on `owner` itself) once; False when absent or done already."""
    original = vars(owner).get(name)
    if original is None or is_wrapped(owner, name):
        return False
    plain = _is_plain_function(original)
    if plain and isinstance(owner, type):
        patched = _method_wrapper(original, wrapper)
    elif plain or (type(original) is _BUILTIN_FUNCTION and not isinstance(owner, type)):
        patched = _function_wrapper(original, wrapper)
    else:
        patched = function_wrapper_class()(original, wrapper)
    setattr(owner, name, patched)
    _applied.append((owner, name, original, patched))
    return True


# A module's builtin function (``os._exit``): nothing binds it, so a plain function stands in
# for it as for a module's Python function, and a process that only uses synchronous clients
# never loads wrapt's C module (most of what wrapping ``os._exit`` cost at start-up).
_BUILTIN_FUNCTION = type(len)

# Code flags of functions that return a generator or coroutine (CO_GENERATOR, CO_COROUTINE,
# CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR): those keep wrapt's proxy, which `inspect`
# still recognises as what it wraps.
_LAZY_CODE = 0x20 | 0x80 | 0x100 | 0x200


def _is_plain_function(original: Any) -> bool:
    return isinstance(original, FunctionType) and not original.__code__.co_flags & _LAZY_CODE


def _method_wrapper(original: Callable[..., Any], wrapper: Wrapper) -> Callable[..., Any]:
    """A plain function standing in for the method `original`: what wrapt's FunctionWrapper
    does for a method on each call (bind it, call `wrapper(wrapped, instance, args, kwargs)`)
    at half its cost, which matters on the methods every HTTP call passes through."""
    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        return wrapper(MethodType(original, self), self, args, kwargs)

    return update_wrapper(patched, original)


def _function_wrapper(original: Callable[..., Any], wrapper: Wrapper) -> Callable[..., Any]:
    """A plain function standing in for a module's function `original` (no instance)."""
    def patched(*args: Any, **kwargs: Any) -> Any:
        return wrapper(original, None, args, kwargs)

    return update_wrapper(patched, original)


# Held while a stand-in of `wrap_on_first_call` loads its capture; bootstrap holds it across
# fork() too, so that a child never inherits it taken by a thread it does not have.
loading = Lock()


def wrap_on_first_call(owner: Any, name: str, load: Callable[[], Wrapper]) -> bool:
    """Wrap `owner.name` with a stand-in whose wrapper is loaded at its first call: `load`
    imports a capture module, applies whatever else it patches (never this method) and
    returns the wrapper for it. A client imported by many functions
    but called by few (http.client, under urllib3) costs them no capture module. The stand-in
    stays in place and hands every call to that wrapper, so whatever another library wrapped
    around it since still calls the capture once; a `load` that fails leaves the client
    working, uncaptured."""
    loaded: list[Wrapper] = []

    def stand_in(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
        wrapper = loaded[0] if loaded else _load_once(loaded, load, name)
        return wrapper(wrapped, instance, args, kwargs)

    return wrap(owner, name, stand_in)


def _load_once(loaded: list[Wrapper], load: Callable[[], Wrapper], name: str) -> Wrapper:
    with loading:
        if not loaded:
            try:
                loaded.append(load())
            except Exception as exc:
                diagnostics.swallowed(f"patching.first_call:{name}", exc)
                loaded.append(_call_through)
    return loaded[0]


def _call_through(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    return wrapped(*args, **kwargs)


def is_wrapped(owner: Any, name: str) -> bool:
    current = vars(owner).get(name)
    return any(patched is current for _, _, _, patched in _applied)


def defining_class(cls: type, name: str) -> type | None:
    """The class in `cls`'s MRO that defines `name`: patch there, so subclasses are covered."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


def unwrap_all() -> None:
    """Undo every patch, newest first (tests, and `bootstrap.uninstall`)."""
    while _applied:
        owner, name, original, patched = _applied.pop()
        if vars(owner).get(name) is patched:
            setattr(owner, name, original)
