"""Runtime start-up: plays /var/runtime/bootstrap.py of Lambda's managed Python runtime (runs in
the runtime process, started by `bootstrap` or by the exec wrapper).

Applies the managed runtime's PYTHONPATH-dependent sys.path rules (docs/PROTOCOL.md, 6), with
/opt being the sandbox's private directory next to this one, then hands over to the real
awslambdaric: `awslambdaric.__main__.main([task_root, handler])`.
"""

from __future__ import annotations

import os
import site
import sys

OPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "opt")


def _opt_python_dirs() -> list[str]:
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return [os.path.join(OPT, "python", "lib", version, "site-packages"),
            os.path.join(OPT, "python")]


def set_default_sys_path() -> None:
    # A PYTHONPATH set by a wrapper means "I manage the path": the runtime then leaves the
    # layer directories out, exactly as AWS's bootstrap.py does.
    if "PYTHONPATH" not in os.environ:
        sys.path.insert(0, os.path.join(OPT, "python"))
        sys.path.insert(0, _opt_python_dirs()[0])
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])


def add_default_site_directories() -> None:
    # Site directories, so that .pth files of the function and of layers are processed.
    site.addsitedir(os.environ["LAMBDA_TASK_ROOT"])
    if "PYTHONPATH" not in os.environ:
        for directory in _opt_python_dirs():
            site.addsitedir(directory)


def set_default_pythonpath() -> None:
    # For the function's child processes only; this interpreter's sys.path is already set.
    if "PYTHONPATH" not in os.environ:
        os.environ["PYTHONPATH"] = os.environ["LAMBDA_RUNTIME_DIR"]


def main() -> None:
    set_default_sys_path()
    add_default_site_directories()
    set_default_pythonpath()
    # Imported only now, after the path is set, as the managed runtime's bootstrap does.
    from awslambdaric import __main__ as awslambdaricmain

    awslambdaricmain.main([os.environ["LAMBDA_TASK_ROOT"], os.environ["_HANDLER"]])


if __name__ == "__main__":
    main()
