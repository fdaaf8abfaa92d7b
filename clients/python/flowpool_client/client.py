"""The client: connect, submit runs, await their results, cancel them, read the pool's status."""

import itertools
import os
import time
from dataclasses import dataclass, field

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import _wire
from .errors import PoolError

_HANDSHAKE_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)

# How often a result that is waited for is also asked for with get_result: a pushed result does not reach a
# client whose connection was renewed (new routing id), nor one whose replies the coordinator had to drop.
_GET_RESULT_EVERY = 5.0

# submit_batch: the arguments of submit and their wire names.
_BATCH_FIELDS = (
    ("input", "input"),
    ("run_id", "run"),
    ("deadline_ms", "deadline_ms"),
    ("max_attempts", "max_attempts"),
)


@dataclass(frozen=True)
class Submission:
    """A run the coordinator accepted."""

    id: str
    """The submit request's id (the pushed result carries it)."""
    job: str
    namespace: str
    run_id: str
    existing: bool = False
    """Whether the run already existed (a submit naming an active run, or a finished one whose result is kept)."""

    @classmethod
    def from_message(cls, m):
        return cls(
            id=m["id"], job=m.get("job"), namespace=m.get("ns"), run_id=m.get("run"), existing=bool(m.get("existing"))
        )


@dataclass(frozen=True)
class RunResult:
    """How a run ended: ``status`` is ``completed`` (``answer`` holds the flow's result), ``failed`` or
    ``cancelled`` (``error`` holds ``{"code": …, "message": …}``)."""

    namespace: str
    run_id: str
    status: str
    answer: object = None
    error: dict = None
    attempts: int = 0
    job: str = None
    raw: dict = field(default=None, repr=False, compare=False)

    @property
    def ok(self):
        return self.status == "completed"

    @property
    def error_code(self):
        return (self.error or {}).get("code")

    @property
    def error_message(self):
        return (self.error or {}).get("message")

    @classmethod
    def from_message(cls, m):
        error = m.get("error")
        return cls(
            namespace=m.get("ns"),
            run_id=m.get("run"),
            status=m.get("status"),
            answer=m.get("result"),
            error=error if isinstance(error, dict) else None,
            attempts=m.get("attempts") or 0,
            job=m.get("job"),
            raw=m,
        )


def _deadline(timeout):
    return None if timeout is None else time.monotonic() + max(0.0, timeout)


def _left(deadline):
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class _Control:
    """A DEALER to the control endpoint: requests matched to their replies by id.

    Messages that answer nothing waited for (pushed results, late replies) go to ``on_push``, or are dropped.
    """

    _ids = itertools.count(1)

    def __init__(self, ctx, endpoint, keys, watch_handshake=False):
        self.endpoint = endpoint
        self.keys = keys
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        if keys is not None:
            keys.secure(self.sock)
        self.monitor = self.sock.get_monitor_socket(_HANDSHAKE_EVENTS) if watch_handshake else None
        self.seen = []  # monitor events while watched: (event, value)
        self.sock.connect(endpoint)
        self.prefix = f"py{os.getpid():x}-{os.urandom(3).hex()}-"
        self.on_push = None

    def new_id(self):
        return f"{self.prefix}{next(self._ids)}"

    def send(self, op, **fields):
        rid = fields.pop("id", None) or self.new_id()
        message = {"v": 1, "op": op, "id": rid}
        message.update({k: v for k, v in fields.items() if v is not None})
        self.sock.send(_wire.encode(message))
        return rid

    def stop_watching(self):
        if self.monitor is not None:
            self._read_monitor()
            self.sock.disable_monitor()
            self.monitor.close(linger=0)
            self.monitor = None

    def _read_monitor(self):
        while self.monitor is not None and self.monitor.poll(0):
            event = recv_monitor_message(self.monitor)
            self.seen.append((event["event"], event["value"]))

    def recv(self, timeout):
        """The next message's frames, or None when none came within ``timeout`` seconds (None: no limit)."""
        deadline = _deadline(timeout)
        while True:
            left = _left(deadline)
            ms = None if left is None else int(left * 1000) + (1 if left > 0 else 0)
            if self.monitor is None:
                return self.sock.recv_multipart() if self.sock.poll(ms) else None
            poller = zmq.Poller()
            poller.register(self.sock, zmq.POLLIN)
            poller.register(self.monitor, zmq.POLLIN)
            ready = dict(poller.poll(ms))
            if self.monitor in ready:
                self._read_monitor()
            if self.sock in ready:
                return self.sock.recv_multipart()
            if not ready:
                return None

    def drain(self):
        """Reads what waits without blocking (replies nobody waits for), handing pushes to ``on_push``."""
        while self.sock.poll(0):
            self._other(self.sock.recv_multipart())

    def _other(self, frames):
        if self.on_push is None:
            return
        try:
            message = _wire.decode(frames[0])
        except PoolError:
            return
        self.on_push(message)

    def reply(self, rid, ops, timeout, what):
        """The reply to request ``rid`` whose op is one of ``ops`` (or ``error``, raised as PoolError)."""
        deadline = _deadline(timeout)
        while True:
            frames = self.recv(_left(deadline))
            if frames is None:
                raise PoolError("timeout", f"no answer to {what} from {self.endpoint} within {timeout} s")
            message = _wire.decode(frames[0])
            if message.get("id") == rid and message.get("op") == "error":
                raise PoolError(message.get("code") or "unknown", message.get("message") or "")
            if message.get("id") == rid and message.get("op") in ops:
                return message, frames
            if self.on_push is not None:
                self.on_push(message)

    def request(self, op, timeout, ops, what=None, **fields):
        rid = self.send(op, **fields)
        message, _ = self.reply(rid, ops, timeout, what or op)
        return message

    def replay(self, timeout, pattern=None, ranges=None):
        """The events of a replay, as (topic, envelope) frames in the order the coordinator sent them."""
        rid = self.send("replay", pattern=pattern, ranges=ranges)
        deadline = _deadline(timeout)
        events = []
        while True:
            message, frames = self.reply(rid, ("replay_batch",), _left(deadline), "replay")
            events.extend(zip(frames[1::2], frames[2::2]))
            if message.get("last"):
                return events

    def close(self):
        self.stop_watching()
        self.sock.close(linger=0)

    def handshake_problem(self, timeout):
        """Why no welcome came, from what the socket monitor saw (docs/PROTOCOL.md, "Handshake failures")."""
        self._read_monitor()
        kinds = [event for event, _ in self.seen]
        values = {event: value for event, value in self.seen}
        base = f"no welcome from {self.endpoint} within {timeout} s"
        if zmq.EVENT_HANDSHAKE_FAILED_AUTH in values:
            return (
                f"{base}: the coordinator refused this client's key "
                f"(ZAP status {values[zmq.EVENT_HANDSHAKE_FAILED_AUTH]}): "
                "is its public key in the coordinator's allow-list, with the role client (or subscriber)? "
                "After fixing the list, connect again"
            )
        if zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL in values:
            code = values[zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL]
            if self.keys is None:
                why = (
                    "the coordinator uses CURVE keys and this client has none: give key_file (this client's "
                    "NAME.key_secret) and coordinator_key (coordinator.key)"
                )
            else:
                why = (
                    "this client has keys and the coordinator has none (drop key_file and coordinator_key), "
                    "or the other way round"
                )
            return f"{base}: the security handshake failed (ZMTP error 0x{code:x}): {why}"
        if zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL in values:
            return (
                f"{base}: the security handshake failed: is coordinator_key the coordinator's public key "
                "(its coordinator.key), and key_file this client's NAME.key_secret?"
            )
        if zmq.EVENT_HANDSHAKE_SUCCEEDED in values:
            return (
                f"{base}: the connection was made but hello got no answer: "
                "is this the coordinator's control endpoint?"
            )
        if zmq.EVENT_CONNECTED in values and zmq.EVENT_DISCONNECTED in kinds:
            if self.keys is None:
                return (
                    f"{base}: the coordinator closed the connection during the handshake: it probably uses CURVE "
                    "keys; give key_file (this client's NAME.key_secret) and coordinator_key (coordinator.key)"
                )
            return (
                f"{base}: the coordinator closed the connection during the handshake: check key_file, "
                "coordinator_key and the coordinator's allow-list"
            )
        if zmq.EVENT_CONNECTED in values:
            keys = (
                "are key_file, coordinator_key and the coordinator's allow-list right?"
                if self.keys is not None
                else "does it use CURVE keys (then give key_file and coordinator_key)?"
            )
            return (
                f"{base}: connected, but no handshake completed: "
                f"is this a FlowPool coordinator's control endpoint, and {keys}"
            )
        return (
            f"{base}: nothing accepted a connection there: is the coordinator running, "
            "and is this its control endpoint (port 5570 by default)?"
        )


class Client:
    """A connection to a FlowPool coordinator (docs/PROTOCOL.md, "Control endpoint").

    >>> with Client("127.0.0.1:5570") as pool:
    ...     print(pool.run("agent4", "sales_agent", {"question": "hi"}))

    ``coordinator`` is ``host``, ``host:port`` or ``tcp://host:port`` (port 5570 by default). For a pool with
    keys give ``key_file`` (this client's ``NAME.key_secret``) and ``coordinator_key`` (``coordinator.key``, or
    its 40-character public key). ``timeout`` (seconds) bounds the wait for the welcome and for each reply.

    Connecting raises :class:`PoolError` ``timeout`` when no welcome comes, saying what to check (a refused key,
    a missing or wrong coordinator key, no coordinator there).

    A client is used from one thread at a time; each :meth:`events` stream has its own sockets and may be read
    from another thread.
    """

    def __init__(self, coordinator="127.0.0.1:5570", key_file=None, coordinator_key=None, timeout=10, *, context=None):
        if timeout is None or timeout <= 0:
            raise ValueError("timeout is a number of seconds greater than 0")
        self.timeout = timeout
        self.endpoint = _wire.control_endpoint(coordinator)
        self.keys = _wire.load_keys(key_file, coordinator_key)
        self._own_context = context is None
        self.context = context if context is not None else zmq.Context()
        self._pushed = {}  # submit request id -> result message
        self._closed = False
        self._control = None
        try:
            self._control = _Control(self.context, self.endpoint, self.keys, watch_handshake=True)
            self._control.on_push = self._push
            rid = self._control.send("hello", batch_results=True)
            try:
                self.welcome, _ = self._control.reply(rid, ("welcome",), timeout, "hello")
            except PoolError as error:
                if error.code == "timeout":
                    raise PoolError("timeout", self._control.handshake_problem(timeout)) from None
                raise
            finally:
                self._control.stop_watching()
        except BaseException:
            self.close()
            raise
        ports = self.welcome.get("ports") or {}
        self.events_port = ports.get("events_out")
        self.host = self.welcome.get("host") or _wire.endpoint_host(self.endpoint)

    # Plumbing

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Closes the connection (and, unless a context was given, every stream of this client)."""
        if self._closed:
            return
        self._closed = True
        if self._control is not None:
            self._control.close()
        if self._own_context:
            self.context.destroy(linger=0)

    def _check_open(self):
        if self._closed:
            raise PoolError("closed", "the client is closed")

    def _push(self, message):
        op = message.get("op")
        if op == "result" and isinstance(message.get("id"), str):
            self._pushed[message["id"]] = message
        elif op == "result_batch":
            for r in message.get("results") or []:
                if isinstance(r, dict) and isinstance(r.get("id"), str):
                    self._pushed[r["id"]] = r

    def _request(self, op, ops, **fields):
        self._check_open()
        return self._control.request(op, self.timeout, ops, **fields)

    # Runs

    def submit(self, flow, namespace, input=None, run_id=None, deadline_ms=None, max_attempts=None, *, reply=True):
        """Submits a run and returns once the coordinator accepted it.

        ``input`` is the flow's input (an object's members become the run's shared store); ``run_id`` names the
        run (the coordinator makes one when None; a submit naming an active or finished run gets that run,
        ``existing``); ``deadline_ms`` bounds the run's time from acceptance; ``max_attempts`` the attempts
        before ``attempts_exhausted``. With ``reply=False`` the result is not pushed (ask :meth:`get_result`).

        Raises :class:`PoolError` with the coordinator's code: ``pool_full``, ``draining``, ``forbidden``,
        ``bad_request``; or ``timeout``.
        """
        fields = dict(
            flow=flow, ns=namespace, run=run_id, input=input, max_attempts=max_attempts, deadline_ms=deadline_ms
        )
        if not reply:
            fields["reply"] = False
        m = self._request("submit", ("accepted",), **fields)
        return Submission.from_message(m)

    def submit_batch(self, runs):
        """Submits 1–1,000 runs in one message.

        ``runs`` are dicts with the arguments of :meth:`submit` (``flow``, ``namespace``, ``input``, ``run_id``,
        ``deadline_ms``, ``max_attempts``). Returns, per run in order, its :class:`Submission` or the
        :class:`PoolError` that refused it.
        """
        items = []
        for run in runs:
            item = {"id": self._control.new_id(), "flow": run["flow"], "ns": run["namespace"]}
            for key, wire in _BATCH_FIELDS:
                if run.get(key) is not None:
                    item[wire] = run[key]
            items.append(item)
        m = self._request("submit_batch", ("accepted_batch",), runs=items)
        answers = m.get("items")
        if not isinstance(answers, list) or len(answers) != len(items):
            raise PoolError("protocol_error", f"accepted_batch with {len(answers or [])} items for {len(items)} runs")
        out = []
        for answer in answers:
            if "code" in answer:
                out.append(PoolError(answer.get("code"), answer.get("message") or ""))
            else:
                out.append(Submission.from_message(answer))
        return out

    def result(self, submission, timeout=None):
        """Waits for the result of a submission (made with ``reply=True``) and returns its :class:`RunResult`.

        Past ``timeout`` seconds (no limit when None) raises :class:`PoolError` ``timeout``; the run goes on.
        """
        self._check_open()
        deadline = _deadline(timeout)
        next_ask = time.monotonic() + _GET_RESULT_EVERY
        while True:
            found = self._take(submission)
            if found is not None:
                return RunResult.from_message(found)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise PoolError(
                    "timeout",
                    f"no result for {submission.namespace}/{submission.run_id} within {timeout} s (the run goes on)",
                )
            if now >= next_ask:
                next_ask = now + _GET_RESULT_EVERY
                try:
                    r = self.get_result(submission.namespace, submission.run_id)
                    self._take(submission)  # a push that came meanwhile
                    return r
                except PoolError as error:
                    if error.code not in ("not_found", "timeout"):
                        raise
                continue
            wait = next_ask - now if deadline is None else min(next_ask, deadline) - now
            frames = self._control.recv(wait)
            if frames is not None:
                self._control._other(frames)

    def _take(self, submission):
        found = self._pushed.pop(submission.id, None)
        if found is None:
            # The newest submit of a run gets its result: look for it by run.
            for rid, m in self._pushed.items():
                if m.get("ns") == submission.namespace and m.get("run") == submission.run_id:
                    found = self._pushed.pop(rid)
                    break
        return found

    def run(self, flow, namespace, input=None, run_id=None, timeout=None, **options):
        """Runs a flow and returns its answer; a run that did not complete raises :class:`PoolError` with its
        error code (``flow_failed``, ``attempts_exhausted``, ``deadline_exceeded``, ``cancelled``, …) and the
        :class:`RunResult` as ``result``."""
        submission = self.submit(flow, namespace, input, run_id=run_id, **options)
        r = self.result(submission, timeout=timeout)
        if not r.ok:
            raise PoolError(
                r.error_code or r.status,
                f"run {r.namespace}/{r.run_id} {r.status} after {r.attempts} attempt(s): {r.error_message or ''}",
                result=r,
            )
        return r.answer

    def get_result(self, namespace, run_id):
        """The result of a finished run; :class:`PoolError` ``not_found`` when it is unknown, not finished yet,
        or no longer kept."""
        return RunResult.from_message(self._request("get_result", ("result",), ns=namespace, run=run_id))

    def cancel(self, namespace, run_id=None):
        """Cancels a run (``cancel(namespace, run_id)`` or ``cancel(submission)``); returns what it was
        (``queued``, ``dispatched`` or ``running``). It ends with one ``cancelled`` event and a result whose status
        is ``cancelled``. :class:`PoolError` ``already_finished`` (its result stands) or ``not_found``."""
        if isinstance(namespace, Submission):
            namespace, run_id = namespace.namespace, namespace.run_id
        return self._request("cancel", ("cancelled",), ns=namespace, run=run_id).get("was")

    def status(self):
        """The coordinator's status body: workers, queue depth, runs in flight, counters, limits."""
        return self._request("status", ("status",)).get("body") or {}

    def replay(self, pattern=None, ranges=None):
        """Stored events (docs/PROTOCOL.md, "replay"), as event dicts in the order the coordinator sends them.

        ``pattern`` selects every stored event of matching runs; ``ranges`` are dicts ``{"ns", "run", "attempt"
        (optional), "from_seq", "to_seq" (optional)}``.
        """
        self._check_open()
        pairs = self._control.replay(self.timeout, pattern=pattern, ranges=ranges)
        return [e for e in (_wire.decode_event(envelope) for _, envelope in pairs) if e is not None]

    def events(self, pattern, from_start=False, *, batched=True, timeout=None, buffer=100_000, socket_options=None):
        """Follows the events of runs matching ``pattern`` (``ns``, ``ns/run``, ``prefix*`` or ``*``).

        Returns an :class:`EventStream`, an iterator of event dicts (the envelopes: ``ns``, ``run``, ``attempt``,
        ``seq``, ``type``, ``node``, ``ts``, ``content``), once the subscription is active: a run submitted
        afterwards is seen from its first event. Each run's events come once and in order; missing ones are
        fetched with ``replay``. With ``from_start`` the stored history of matching runs comes first, then live
        events, without gap or duplicate. See :class:`EventStream` for ``batched``, ``timeout``, ``buffer`` and
        ``socket_options``.
        """
        from .events import EventStream

        self._check_open()
        return EventStream(
            self,
            pattern,
            from_start=from_start,
            batched=batched,
            timeout=timeout,
            buffer=buffer,
            socket_options=socket_options,
        )
