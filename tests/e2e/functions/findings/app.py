"""The findings corpus: one function, one scenario per event (`scenario`), each a pattern of
calls a detector should or should not report (labels: tests/e2e/findings_corpus.py).

The event names the scenario, its own upstream URLs (`urls`, each on a loopback address of its
own, so that no two scenarios share an endpoint or a host), and its AWS resources. Every client
is built (and connected) at module level, or kept across invocations, and every call has a
timeout shorter than the function's, except where the scenario is about exactly that: the
labels hold once the capture records `connection` and `timeoutS` too. A scenario that is not
about `http-bound` sleeps after its calls as long as they took (`pad`), so that HTTP fills
about half of the invocation.
"""

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from urllib.parse import quote

import aiohttp
import boto3
import httpx
import requests
from botocore.config import Config
from requests.adapters import HTTPAdapter
from urllib3 import Retry

BOUNDED = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
DYNAMODB = boto3.client("dynamodb", config=BOUNDED)
SQS = boto3.client("sqs", config=BOUNDED)
S3 = boto3.client("s3", config=BOUNDED)
UNBOUNDED_DYNAMODB = boto3.client("dynamodb")  # botocore's defaults: 60 s to connect and to read
SESSION = requests.Session()
RETRYING = requests.Session()  # urllib3 retries 503s twice, at once
RETRYING.mount("http://", HTTPAdapter(max_retries=Retry(
    total=2, status_forcelist=[503], backoff_factor=0, raise_on_status=False)))
UPSTREAM_AWS = {}  # botocore clients whose endpoint is an upstream path, by URL (built once each)
KEPT_THREADS = []  # background work the handler does not wait for
TIMEOUT = 5
AWS_DELAY = threading.local()  # a delay before each AWS request this thread sends


SCENARIOS = {}
UNPADDED = set()  # scenarios whose timing is the point: no sleep after the calls


def scenario(function=None, *, pad=True):
    """Register a scenario under its function's name."""
    def register(function):
        SCENARIOS[function.__name__] = function
        if not pad:
            UNPADDED.add(function.__name__)
        return function

    return register(function) if function is not None else register


def _delay_aws(**kwargs):
    time.sleep(getattr(AWS_DELAY, "s", 0.0))


for _client in (DYNAMODB, SQS, S3, UNBOUNDED_DYNAMODB):
    _client.meta.events.register("before-send", _delay_aws)
# Every AWS service is one host here (moto), where each is a host of its own on AWS: each
# module-level client connects at init, so that no invocation is its first to that host.
DYNAMODB.list_tables()
SQS.list_queues()
S3.list_buckets()
UNBOUNDED_DYNAMODB.list_tables()
LOOP = asyncio.new_event_loop()  # kept across invocations, like the async client on it
KEPT_ASYNC = {}


def slow_aws(delay_s, call, *args, **kwargs):
    """`call` with every AWS request it sends `delay_s` slower (a slow service, inside the call)."""
    AWS_DELAY.s = delay_s
    try:
        return call(*args, **kwargs)
    finally:
        AWS_DELAY.s = 0.0


def get_item(table, key="k0"):
    return DYNAMODB.get_item(TableName=table, Key={"id": {"S": key}})


def in_threads(*calls):
    """Run every call (a function of no arguments) at once on a pool of threads; wait for all."""
    with ThreadPoolExecutor(max_workers=max(len(calls), 1)) as pool:
        futures = [pool.submit(call) for call in calls]
    return [future.result() for future in futures]


def get(url, **options):
    response = SESSION.get(url, timeout=TIMEOUT, **options)
    response.content  # noqa: B018 (read the body: it is part of the call)
    return response.status_code


def post(url, body=b""):
    return SESSION.post(url, data=body, timeout=TIMEOUT).status_code


async def _gather(client, urls, method):
    responses = await asyncio.gather(*(client.request(method, url) for url in urls))
    return [response.status_code for response in responses]


async def _httpx_all(*urls, method="GET"):
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        return await _gather(client, urls, method)


async def _kept_httpx_all(*urls, method="GET"):
    if "httpx" not in KEPT_ASYNC:
        KEPT_ASYNC["httpx"] = httpx.AsyncClient(timeout=TIMEOUT)
    return await _gather(KEPT_ASYNC["httpx"], urls, method)


async def _aiohttp_get(session, url):
    async with session.get(url) as response:
        await response.read()
        return response.status


async def _aiohttp_all(*urls):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
        return await asyncio.gather(*(_aiohttp_get(session, url) for url in urls))


# ------------------------------------------------------------------------------ repeated-call

@scenario
def repeated_getitem(event):
    for number in range(20):
        get_item(event["table"], f"k{number}")


@scenario
def repeated_send_threaded(event):
    queue = SQS.get_queue_url(QueueName=event["queue"])["QueueUrl"]
    in_threads(*(partial(_send, queue, f"message {n}") for n in range(8)))


def _send(queue, body):
    SQS.send_message(QueueUrl=queue, MessageBody=body)


@scenario
def repeated_ids(event):
    base = event["urls"][0]
    for item in ("7", "1234", "9f1c2e4a-3b5d-4c6e-8f70-1a2b3c4d5e6f", "42", "c0ffee12deadbeef"):
        get(f"{base}/users/{item}/profile")


@scenario
def repeated_query_async(event):
    base = event["urls"][0]
    asyncio.run(_httpx_all(*(f"{base}/search?q={term}" for term in "abcdef")))


@scenario
def repeated_posts_one_url(event):
    for number in range(6):
        post(f"{event['urls'][0]}/graphql", b'{"query": "{ user(id: %d) { name } }"}' % number)


@scenario
def getitem_tables(event):
    for table in event["tables"]:
        get_item(table, "k1")
        get_item(table, "k2")


@scenario
def below_repeated_min(event):
    base = event["urls"][0]
    in_threads(*(partial(get, f"{base}/users/{n}") for n in range(4)))


@scenario
def different_endpoints(event):
    base = event["urls"][0]
    for path in ("/users/1", "/orders/2", "/stock/3", "/prices/4", "/carts/5"):
        get(base + path)


# ----------------------------------------------------------------------------- identical-call

@scenario
def identical_get(event):
    get(f"{event['urls'][0]}/config")
    get(f"{event['urls'][0]}/config")


@scenario
def identical_gather(event):
    asyncio.run(_aiohttp_all(*[f"{event['urls'][0]}/flags?env=prod"] * 3))


@scenario
def identical_s3_get(event):
    S3.put_object(Bucket=event["bucket"], Key="settings.json", Body=b"{}")
    for _ in range(2):
        S3.get_object(Bucket=event["bucket"], Key="settings.json")["Body"].read()


@scenario
def post_twice(event):
    post(f"{event['urls'][0]}/events", b"{}")
    post(f"{event['urls'][0]}/events", b"{}")


@scenario
def get_different_queries(event):
    in_threads(partial(get, f"{event['urls'][0]}/config?v=1"),
               partial(get, f"{event['urls'][0]}/config?v=2"))


@scenario
def getitem_same_key_twice(event):
    get_item(event["table"], "k1")
    get_item(event["table"], "k1")


# --------------------------------------------------------------------------- sequential-calls

@scenario
def sequential_hosts(event):
    for base in event["urls"]:
        get(f"{base}/slow?ms=120")


@scenario
def sequential_aws_and_http(event):
    slow_aws(0.12, get_item, event["table"])
    slow_aws(0.12, S3.head_bucket, Bucket=event["bucket"])
    get(f"{event['urls'][0]}/slow?ms=120")


@scenario
def sequential_awaits(event):
    async def body():
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            for base in event["urls"]:
                await client.get(f"{base}/slow?ms=120")

    asyncio.run(body())


@scenario
def sequential_around_not_modified(event):
    """A conditional GET answered 304 (not a redirect: nothing follows from it) between two
    independent slow calls."""
    get(f"{event['urls'][0]}/slow?ms=150")
    get(f"{event['urls'][1]}/status/304")
    get(f"{event['urls'][2]}/slow?ms=150")


@scenario
def concurrent_threads_aws(event):
    in_threads(partial(slow_aws, 0.12, get_item, event["table"]),
               partial(slow_aws, 0.12, S3.head_bucket, Bucket=event["bucket"]),
               partial(get, f"{event['urls'][0]}/slow?ms=120"))


@scenario
def concurrent_gather(event):
    async def body():
        await asyncio.gather(_httpx_all(*(f"{base}/slow?ms=120" for base in event["urls"][:2])),
                             _aiohttp_all(f"{event['urls'][2]}/slow?ms=120"))

    asyncio.run(body())


@scenario
def paginated(event):
    for page in (1, 2, 3):
        get(f"{event['urls'][0]}/slow?ms=120&page={page}")


@scenario(pad=False)
def sequential_small_share(event):
    """Two calls that could have run together, saving over 100 ms but under a tenth of the
    invocation."""
    for base in event["urls"]:
        get(f"{base}/slow?ms=110")
    time.sleep(1.5)


@scenario
def redirect_followed_by_hand(event):
    """A redirect the code follows itself (urls[0] redirects): the second call needs the
    first's answer."""
    target = quote(f"{event['urls'][1]}/slow?ms=150", safe="")
    response = SESSION.get(f"{event['urls'][0]}/hop?ms=150&to={target}", timeout=TIMEOUT,
                           allow_redirects=False)
    get(response.headers["Location"])


@scenario
def sequential_fast_aws(event):
    get_item(event["table"])
    S3.head_bucket(Bucket=event["bucket"])
    SQS.get_queue_url(QueueName=event["queue"])


# ------------------------------------------------------------------------------------ retries

@scenario
def retried_503(event):
    RETRYING.get(f"{event['urls'][0]}/status/503", timeout=TIMEOUT)


def _aws_at(service, endpoint, config=BOUNDED):
    """A botocore client whose endpoint is an upstream URL: a service that answers 503, or
    answers slowly (botocore parses what it can of the upstream's JSON)."""
    if endpoint not in UPSTREAM_AWS:
        UPSTREAM_AWS[endpoint] = boto3.client(service, endpoint_url=endpoint, config=config)
    return UPSTREAM_AWS[endpoint]


def _get_failing(client, table):
    try:
        client.get_item(TableName=table, Key={"id": {"S": "k1"}})
    except Exception as exc:  # botocore gives up after its retries: the scenario expects it
        return type(exc).__name__


@scenario
def aws_retry_storm(event):
    retries = {"mode": "standard", "max_attempts": 2}  # retries, after the first attempt
    client = _aws_at("dynamodb", f"{event['urls'][0]}/status/503",
                     Config(connect_timeout=2, read_timeout=5, retries=retries))
    in_threads(*(partial(_get_failing, client, table) for table in ("a", "b", "c")))


@scenario
def throttled_429_async(event):
    asyncio.run(_aiohttp_all(f"{event['urls'][0]}/status/429"))


@scenario
def aws_throttled_once(event):
    """DynamoDB answering ProvisionedThroughputExceededException (urls[0] is a throttling
    service), and botocore told not to retry."""
    client = _aws_at("dynamodb", event["urls"][0],
                     Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1}))
    try:
        client.get_item(TableName="orders", Key={"id": {"S": "k1"}})
    except client.exceptions.ProvisionedThroughputExceededException:
        pass


@scenario
def redirected(event):
    get(f"{event['urls'][0]}/redirect")


@scenario
def failed_once_async(event):
    asyncio.run(_aiohttp_all(f"{event['urls'][0]}/fail"))


@scenario
def aws_first_try(event):
    get_item(event["table"])
    S3.head_bucket(Bucket=event["bucket"])


# --------------------------------------------------------------------------------- no-timeout

@scenario
def requests_without_timeout(event):
    requests.get(f"{event['urls'][0]}/fast")


@scenario
def boto3_default_timeouts(event):
    UNBOUNDED_DYNAMODB.get_item(TableName=event["table"], Key={"id": {"S": "k1"}})


@scenario
def aiohttp_default_timeout(event):
    async def body():
        async with aiohttp.ClientSession() as session:  # aiohttp's default: 300 s in all
            await _aiohttp_get(session, f"{event['urls'][0]}/fast")

    asyncio.run(body())


@scenario
def requests_with_timeout(event):
    SESSION.get(f"{event['urls'][0]}/fast", timeout=3)


@scenario
def boto3_bounded_threaded(event):
    in_threads(partial(get_item, event["table"]), partial(get_item, event["table"], "k2"))


@scenario
def httpx_default_timeout(event):
    async def body():
        async with httpx.AsyncClient() as client:  # httpx's default: 5 s
            await client.get(f"{event['urls'][0]}/fast")

    asyncio.run(body())


# ----------------------------------------------------------------------------- new-connection

@scenario
def requests_get_each_time(event):
    requests.get(f"{event['urls'][0]}/fast", timeout=TIMEOUT)


@scenario
def boto3_client_in_handler(event):
    client = boto3.client("dynamodb", config=BOUNDED)
    client.get_item(TableName=event["table"], Key={"id": {"S": "k1"}})


@scenario
def async_client_each_time(event):
    asyncio.run(_httpx_all(f"{event['urls'][0]}/fast"))


@scenario
def async_client_kept(event):
    LOOP.run_until_complete(_kept_httpx_all(f"{event['urls'][0]}/fast"))


@scenario
def session_reused(event):
    get(f"{event['urls'][0]}/fast")


@scenario
def module_client_reused(event):
    get_item(event["table"])


# ---------------------------------------------------------------------------------- slow-call

@scenario
def post_slow(event):
    """`count` POSTs of one URL taking `ms` each: one after another, on threads or gathered."""
    urls = [f"{event['urls'][0]}/slow?ms={event['ms']}"] * event.get("count", 1)
    if event.get("gather"):  # on a client kept across invocations, as its connections are
        LOOP.run_until_complete(_kept_httpx_all(*urls, method="POST"))
    elif event.get("threaded"):
        in_threads(*(partial(post, url) for url in urls))
    else:
        for url in urls:
            post(url)


@scenario
def getitem_delayed(event):
    for number in range(event.get("count", 1)):
        slow_aws(event.get("delay_s", 0.0), get_item, event["table"], f"k{number}")


# ------------------------------------------------------------------------------ large-payload

@scenario
def large_echo(event):
    post(f"{event['urls'][0]}/echo", b"x" * event["bytes"])


@scenario
def large_echo_async(event):
    async def body():
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            await client.post(f"{event['urls'][0]}/echo", content=b"x" * event["bytes"])

    asyncio.run(body())


@scenario
def s3_roundtrip(event):
    body = b"x" * event["bytes"]
    key = f"blob-{event['bytes']}"

    def roundtrip():
        S3.put_object(Bucket=event["bucket"], Key=key, Body=body)
        return S3.get_object(Bucket=event["bucket"], Key=key)["Body"].read()

    if event.get("threaded"):
        in_threads(roundtrip)
    else:
        roundtrip()


# ----------------------------------------------------------------------------- after-response

def _left_running(call, *args):
    """Start `call` on a thread the handler does not wait for, and give it time to start."""
    thread = threading.Thread(target=call, args=args, daemon=True)
    thread.start()
    KEPT_THREADS.append(thread)
    time.sleep(0.1)


@scenario(pad=False)
def background_http(event):
    time.sleep(0.1)
    _left_running(get, f"{event['urls'][0]}/slow?ms=400")


@scenario(pad=False)
def background_then_raise(event):
    background_http(event)
    raise RuntimeError("the handler gave up, its background call still running")


@scenario(pad=False)
def background_aws(event):
    queue = SQS.get_queue_url(QueueName=event["queue"])["QueueUrl"]
    slow_sqs = _aws_at("sqs", f"{event['urls'][0]}/slow")  # the upstream's /slow: 300 ms
    time.sleep(0.1)
    _left_running(partial(slow_sqs.send_message, QueueUrl=queue, MessageBody="left running"))


@scenario
def thread_joined(event):
    thread = threading.Thread(target=get, args=(f"{event['urls'][0]}/slow?ms=150",))
    thread.start()
    thread.join()


@scenario(pad=False)
def background_done_in_time(event):
    _left_running(get_item, event["table"])  # a few ms: done before the handler returns


@scenario(pad=False)
def settle(event):
    """Let what earlier scenarios left running end (it is no call of this invocation)."""
    for thread in KEPT_THREADS:
        thread.join(5)
    KEPT_THREADS.clear()


# --------------------------------------------------------------------------------- http-bound

@scenario(pad=False)
def one_slow_call(event):
    get(f"{event['urls'][0]}/slow?ms=250")


@scenario(pad=False)
def aws_threaded_waits(event):
    in_threads(*(partial(slow_aws, 0.2, get_item, table) for table in event["tables"]))


@scenario(pad=False)
def wait_then_call(event):
    time.sleep(0.3)
    get(f"{event['urls'][0]}/slow?ms=200")


@scenario(pad=False)
def short_slow_call(event):  # all HTTP, and well under http-bound's 100 ms floor on a busy host
    asyncio.run(_aiohttp_all(f"{event['urls'][0]}/slow?ms=20"))


@scenario(pad=False)
def short_aws(event):  # one call: a busy host's moto must stay under the 100 ms floor
    get_item(event["table"])


# ------------------------------------------------------------------------- HTTPRECAP_KEEP only

@scenario(pad=False)
def raises_after_call(event):
    get(f"{event['urls'][0]}/fast")
    raise RuntimeError("the handler gave up")


@scenario(pad=False)
def quiet_but_long(event):
    get(f"{event['urls'][0]}/fast")
    time.sleep(event["sleep_s"])


def handler(event, context):
    started = time.monotonic()
    SCENARIOS[event["scenario"]](event)
    if event["scenario"] not in UNPADDED:
        time.sleep(time.monotonic() - started)
    return {"scenario": event["scenario"], "env": os.environ.get("AWS_LAMBDA_FUNCTION_NAME")}
