"""A Python client for FlowPool pools, written from docs/PROTOCOL.md with pyzmq only.

>>> from flowpool_client import Client
>>> with Client("127.0.0.1:5570") as pool:
...     stream = pool.events("sales_agent")           # active before the run is submitted
...     submission = pool.submit("agent4", "sales_agent", {"question": "hi"})
...     for event in stream:
...         print(event["run"], event["seq"], event["type"], event["content"])
...         if event["type"] in ("final", "error", "cancelled"):
...             break
...     print(pool.result(submission).answer)

See clients/python/README.md.
"""

from .client import Client, RunResult, Submission
from .errors import PoolError
from .events import EventStream, Sequencer

TERMINAL_TYPES = ("final", "error", "cancelled")

__all__ = ["Client", "EventStream", "PoolError", "RunResult", "Sequencer", "Submission", "TERMINAL_TYPES"]
