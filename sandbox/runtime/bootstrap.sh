#!/bin/bash
# Plays /var/runtime/bootstrap of Lambda's managed Python runtime (runs as the runtime process).
# The sandbox fills in @PYTHON@ (the interpreter that plays /var/lang/bin/python3.X) and
# @EXECUTION_ENV@. Same logic as AWS's script: honour AWS_LAMBDA_EXEC_WRAPPER, exit 127 when
# it is missing and 126 when it cannot be executed.
export AWS_EXECUTION_ENV=@EXECUTION_ENV@
if [ -z "$AWS_LAMBDA_EXEC_WRAPPER" ]; then
  exec @PYTHON@ "$LAMBDA_RUNTIME_DIR/bootstrap.py"
else
  wrapper="$AWS_LAMBDA_EXEC_WRAPPER"
  if [ ! -f "$wrapper" ]; then
    echo "$wrapper: does not exist"
    exit 127
  fi
  if [ ! -x "$wrapper" ]; then
    echo "$wrapper: is not an executable"
    exit 126
  fi
  exec -- "$wrapper" @PYTHON@ "$LAMBDA_RUNTIME_DIR/bootstrap.py"
fi
