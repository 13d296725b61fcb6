"""A function that calls out through every client httprecap captures, from the main thread and
a thread pool, plus one call at module level (init). Returns what it did so tests can compare."""

import os
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
import requests
import urllib3

UPSTREAM = os.environ["UPSTREAM_URL"]
BUCKET = os.environ["BUCKET"]

requests.get(f"{UPSTREAM}/fast?phase=init", timeout=5)
pool = urllib3.PoolManager()
s3 = boto3.client("s3")


def _pooled(i, tag):
    return requests.get(f"{UPSTREAM}/slow?ms=10&{tag}&via=pool&i={i}", timeout=5).status_code


def handler(event, context):
    tag = f"inv={event['n']}"
    requests.get(f"{UPSTREAM}/fast?{tag}&via=requests", timeout=5)
    pool.request("GET", f"{UPSTREAM}/redirect?{tag}&via=urllib3")
    urllib.request.urlopen(f"{UPSTREAM}/fast?{tag}&via=urllib", timeout=5).read()
    s3.put_object(Bucket=BUCKET, Key=f"object-{event['n']}", Body=b"hello")
    s3.get_object(Bucket=BUCKET, Key=f"object-{event['n']}")["Body"].read()
    with ThreadPoolExecutor(3) as executor:
        statuses = list(executor.map(lambda i: _pooled(i, tag), range(3)))
    child = subprocess.run(
        [sys.executable, "-c",
         "import sys; print(any(m.startswith('httprecap') for m in sys.modules))"],
        capture_output=True, text=True, check=True)
    return {"requestId": context.aws_request_id, "statuses": statuses,
            "childLoadedHttprecap": child.stdout.strip(),
            "loadedHere": "httprecap.internal" in sys.modules}
