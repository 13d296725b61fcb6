"""The files that play /var/runtime: the managed Python runtime's `bootstrap` and `bootstrap.py`.

They are copied into each sandbox's private runtime directory (LAMBDA_RUNTIME_DIR) and run in
the runtime process; `bootstrap.sh` is a template the sandbox fills with the interpreter.
"""
