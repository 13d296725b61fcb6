"""Loader: starts httprecap's internal extension at interpreter start (runtime process only).

``httprecap-wrapper`` puts this file's directory (``<layer>/httprecap/boot``) and the library
(``<layer>/httprecap/lib``) on PYTHONPATH, so Python imports this module at start-up. It:

1. imports ``httprecap`` while the library is on the path (submodules are found through the
   package's own ``__path__`` from then on);
2. restores the environment as it was before the wrapper: PYTHONPATH back to the user's value
   (or unset) and our two directories off ``sys.path`` (before anything else is imported:
   each entry costs every later import a look), so the runtime's ``bootstrap.py``
   applies its usual PYTHONPATH-dependent path rules (the layer paths ``/opt/python`` and
   ``/opt/python/lib/python3.X/site-packages`` come back, the function's code first) and
   Python subprocesses do not load us. With ``HTTPRECAP_CAPTURE_SUBPROCESSES=1`` children
   keep our directories (and load this file too: install() finds the request id the parent
   exported, so their calls join the invocation that started them), and the layer paths the
   runtime then skips are added here;
3. calls ``httprecap.internal.bootstrap.install()``;
4. runs the ``sitecustomize`` that would have run without us (the user's, on their
   PYTHONPATH, or the distribution's), as module ``sitecustomize``.

It never raises: a failure here must not keep the function from starting.
"""

from __future__ import annotations

import os
import sys

_BOOT = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_BOOT))  # the layer root: /opt on Lambda
_OURS = (_BOOT, os.path.join(os.path.dirname(_BOOT), "lib"))


def _same(a: str, b: str) -> bool:
    return os.path.normcase(os.path.abspath(a or ".")) == os.path.normcase(os.path.abspath(b))


def _is_ours(entry: str) -> bool:
    return any(_same(entry, ours) for ours in _OURS)


def _capture_subprocesses() -> bool:
    # Read by the settings' own parser: install() imports httprecap.settings a moment later
    # anyway (about 1 ms, -X importtime), so importing it first costs nothing more.
    from httprecap.settings import is_true

    return is_true(os.environ.get("HTTPRECAP_CAPTURE_SUBPROCESSES"))


def _restore_environment() -> None:
    """PYTHONPATH and sys.path as they would be without the wrapper."""
    original_set = "_HTTPRECAP_ORIGINAL_PYTHONPATH" in os.environ
    current = os.environ.get("PYTHONPATH", "")
    # Only our entries go: a wrapper chained after ours may have added its own.
    rest = [entry for entry in current.split(os.pathsep) if entry and not _is_ours(entry)]
    if original_set:
        os.environ["PYTHONPATH"] = (os.pathsep.join(rest) if rest
                                    else os.environ["_HTTPRECAP_ORIGINAL_PYTHONPATH"])
    elif rest:
        os.environ["PYTHONPATH"] = os.pathsep.join(rest)
    else:
        os.environ.pop("PYTHONPATH", None)
    sys.path[:] = [entry for entry in sys.path if not _is_ours(entry)]
    for marker in ("_HTTPRECAP_ORIGINAL_PYTHONPATH", "_HTTPRECAP_PATHS"):
        os.environ.pop(marker, None)


def _keep_for_subprocesses() -> None:
    """Children load us too; this process gets the layer paths the runtime now skips."""
    user_set = "_HTTPRECAP_ORIGINAL_PYTHONPATH" in os.environ
    if not user_set:
        # bootstrap.py gives children PYTHONPATH=$LAMBDA_RUNTIME_DIR only when it is unset.
        runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR")
        tail = [runtime_dir] if runtime_dir else []
        os.environ["PYTHONPATH"] = os.pathsep.join([*_OURS, *tail])
        _add_layer_paths()
    sys.path[:] = [entry for entry in sys.path if not _is_ours(entry)]


def _add_layer_paths() -> None:
    import site

    python = os.path.join(_ROOT, "python")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = os.path.join(python, "lib", version, "site-packages")
    for path in (python, site_packages):  # bootstrap.py's order: site-packages first
        if path not in sys.path:
            sys.path.insert(0, path)
    for path in (site_packages, python):
        site.addsitedir(path)  # .pth files, as bootstrap.py would


def _install() -> None:
    if _capture_subprocesses():
        _keep_for_subprocesses()
    else:
        _restore_environment()
    from httprecap.internal import bootstrap

    bootstrap.install()


def _chain() -> None:
    """Run the sitecustomize that Python would have imported without us."""
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("sitecustomize", sys.path)
    if spec is None or spec.loader is None or _same(spec.origin or "", __file__):
        return
    from importlib.util import module_from_spec  # only then: it imports contextlib

    module = module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        # What site.py prints when a sitecustomize fails, and like it, carry on.
        print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
              f"{type(exc).__name__}: {exc}", file=sys.stderr)


def _swallowed(place: str, exc: Exception) -> None:
    """A start-up failure, logged once with HTTPRECAP_LOG_LEVEL=debug as the function
    process logs what it swallows (httprecap.internal.diagnostics). It may come before
    install() configured that, so the level is read here, on this failure path only."""
    try:
        if os.environ.get("HTTPRECAP_LOG_LEVEL", "").strip().lower() != "debug":
            return
        from httprecap.internal import diagnostics

        if not diagnostics.enabled():
            diagnostics.configure("debug")
        diagnostics.swallowed(f"sitecustomize.{place}", exc)
    except Exception:
        # httprecap itself cannot load: the type alone, since its redaction is what is missing.
        try:
            print(f"httprecap: debug: sitecustomize.{place} failed open: "
                  f"{type(exc).__name__}", file=sys.stderr)
        except Exception:  # not logged: stderr is where it would go
            pass


def _main() -> None:
    try:
        import httprecap  # noqa: F401  (while its directory is still on sys.path)
    except Exception as exc:
        _swallowed("import", exc)
        _restore_environment()
        return
    for step in (_install, _chain):
        try:
            step()
        except Exception as exc:
            _swallowed(step.__name__.lstrip("_"), exc)
            continue


_main()
