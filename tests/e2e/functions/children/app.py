"""A function whose handler makes calls from the processes it starts: an os.fork child, a
multiprocessing.Process, a Pool (map, then close and join), a Pool ended with terminate() once
its tasks returned, a Process from a forkserver (started by the first invocation, serving the
later ones) and a Python subprocess. Each URL names the invocation (`inv=N`) and the
kind of process (`via=...`); the handler itself makes one call too."""

import multiprocessing
import os
import subprocess
import sys
import urllib.request

UPSTREAM = os.environ["UPSTREAM_URL"]
FORK = multiprocessing.get_context("fork")  # the default on Linux before Python 3.14
FORKSERVER = multiprocessing.get_context("forkserver")  # the default from Python 3.14
CHILD_SCRIPT = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).read()"


def _get(url):
    urllib.request.urlopen(url, timeout=5).read()
    return url


def _forked(url):
    pid = os.fork()
    if pid == 0:
        try:
            _get(url)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _pool(urls, *, terminate):
    pool = FORK.Pool(2)
    try:
        pool.map(_get, urls)
    finally:
        if terminate:
            pool.terminate()
        else:
            pool.close()
            pool.join()


def handler(event, context):
    tag = f"{UPSTREAM}/fast?inv={event['n']}&via="
    _get(tag + "handler")
    _forked(tag + "fork")
    for start, via in ((FORK, "process"), (FORKSERVER, "forkserver")):
        process = start.Process(target=_get, args=(tag + via,))
        process.start()
        process.join()
    _pool([f"{tag}pool&i={i}" for i in range(3)], terminate=False)
    _pool([f"{tag}terminate&i={i}" for i in range(2)], terminate=True)
    subprocess.run([sys.executable, "-c", CHILD_SCRIPT, tag + "subprocess"], check=True,
                   timeout=30)
    return {"n": event["n"], "requestId": context.aws_request_id}
