"""Following a pool's events: the subscription handshake, per-run order, gap repair through ``replay``."""

import collections
import os
import socket as _socket
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import _wire
from .errors import PoolError

# A quiet-period tick: the stream re-subscribes to a `\0sync/` topic of its own this often; each echo (which
# arrives after everything published before it) looks for runs whose last events were dropped.
TICK_SECONDS = 0.5
# Every this many ticks the stream tells the coordinator what it received and repaired (`subscriber_report`).
REPORT_EVERY_TICKS = 4
# Ranges per replay request of a tail check (a request stays far below the coordinator's message limit).
MAX_RANGES_PER_REPLAY = 1000
# After a refused handshake the SUB socket is connected again after 1 s, then 2, 4, … up to this many seconds.
MAX_RECONNECT_SECONDS = 30
_REFUSALS = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL


def _order(e):
    return (e["ns"], e["run"], e["attempt"], e["seq"])


class _Track:
    __slots__ = ("attempt", "last", "done", "tick_seq", "idle")

    def __init__(self, attempt):
        self.attempt = attempt
        self.last = 0  # the last seq delivered in `attempt`
        self.done = False  # the terminal event was delivered
        self.tick_seq = -1  # `last` at the previous tail check
        self.idle = 0  # tail checks in a row without progress


class Sequencer:
    """Per-run order (docs/PROTOCOL.md, "Joining without a gap"): delivers each run's events once, in order.

    Per run it keeps the newest attempt seen and the last ``seq`` delivered in it. An event of an older attempt is
    dropped (stale), one already delivered is dropped (duplicate); on a jump in ``seq`` the missing range is
    fetched with ``fetch`` before the event is delivered (a run first seen past ``seq`` 1 gets its beginning
    fetched). Runs whose last events were dropped show no jump: :meth:`tail_checks` names those that made no
    progress for a while (after 1, 2, 4, 8, … quiet periods) so their tails can be fetched.

    ``fetch(ranges)`` returns the replayed events (dicts) of a list of replay ranges, or None when the replay
    failed.
    """

    def __init__(self, fetch, max_runs=100_000):
        self._fetch = fetch
        self.max_runs = max_runs
        self.runs = {}  # (ns, run) -> _Track, oldest first
        self.open = set()  # runs not known to be done
        self.stats = dict(
            received=0, delivered=0, from_history=0, gaps=0, repaired=0, lost=0, duplicates=0, stale=0, invalid=0,
            batches=0, tail_rounds=0,
        )

    def live(self, e):
        """A live event: what to deliver now (fetched missing events first)."""
        self.stats["received"] += 1
        return self._accept(e, repair=True)

    def history(self, events):
        """The history of a ``replay`` by pattern: delivered in order, never repaired (it is what is stored)."""
        out = []
        for e in events:
            out += self._accept(e, repair=False)
        self.stats["from_history"] += len(out)
        return out

    def tail_checks(self):
        """Replay ranges for the runs that stopped short of their terminal event: ``from_seq`` the last delivered
        + 1, no ``to_seq``, no ``attempt`` (a newer attempt's events come too, and are ordered after)."""
        self.stats["tail_rounds"] += 1
        ranges = []
        for key in list(self.open):
            t = self.runs.get(key)
            if t is None or t.done:
                self.open.discard(key)
                continue
            if t.last != t.tick_seq:
                t.tick_seq, t.idle = t.last, 0
                continue
            t.idle += 1
            if t.idle & (t.idle - 1) == 0:
                ranges.append({"ns": key[0], "run": key[1], "from_seq": t.last + 1})
        return ranges

    def tail_replayed(self, events):
        """The answer to a tail check: the events found count as gaps and as repaired."""
        out = []
        for e in sorted(events, key=_order):
            out += self._accept(e, repair=True, found=True)
        return out

    def _accept(self, e, repair, found=False):
        key = (e["ns"], e["run"])
        attempt, seq = e["attempt"], e["seq"]
        t = self.runs.get(key)
        if t is None:
            t = self._track(key, attempt)
        elif attempt < t.attempt:
            self.stats["stale"] += 1
            return []
        elif attempt > t.attempt:
            # A new attempt supersedes the old one; its events count from 1 again.
            t.attempt, t.last, t.done = attempt, 0, False
            self.open.add(key)
        if t.done or seq <= t.last:
            self.stats["duplicates"] += 1
            return []
        out = []
        if seq > t.last + 1 and repair:
            self.stats["gaps"] += seq - t.last - 1
            out = self._repair(key, t, t.last + 1, seq - 1)
            if t.done or seq <= t.last:
                self.stats["duplicates"] += 1
                return out
        if seq > t.last + 1:
            self.stats["lost"] += seq - t.last - 1
        t.last = seq
        if e["type"] in _wire.TERMINAL_TYPES:
            t.done = True
            self.open.discard(key)
        if found:
            self.stats["gaps"] += 1
            self.stats["repaired"] += 1
        self.stats["delivered"] += 1
        out.append(e)
        return out

    def _repair(self, key, t, lo, hi):
        events = self._fetch([{"ns": key[0], "run": key[1], "attempt": t.attempt, "from_seq": lo, "to_seq": hi}])
        out = []
        for e in sorted(events or [], key=_order):
            if e["ns"] == key[0] and e["run"] == key[1] and e["attempt"] == t.attempt and e["seq"] == t.last + 1:
                t.last += 1
                out.append(e)
                if e["type"] in _wire.TERMINAL_TYPES:
                    t.done = True
                    self.open.discard(key)
        self.stats["repaired"] += len(out)
        self.stats["delivered"] += len(out)
        return out

    def _track(self, key, attempt):
        if len(self.runs) >= self.max_runs:
            # Forget the oldest finished runs.
            for old in list(self.runs):
                if len(self.runs) < self.max_runs * 0.9:
                    break
                if self.runs[old].done:
                    del self.runs[old]
        t = _Track(attempt)
        self.runs[key] = t
        self.open.add(key)
        return t


class EventStream:
    """The events of runs matching a pattern, as an iterator of event dicts (single consumer).

    Made by :meth:`Client.events`, which returns once the subscription is active (the ``\\0sync/`` handshake).
    The stream has its own SUB socket on the events-out endpoint and its own DEALER on the control endpoint for
    ``replay``; it does its work (repairs, tail checks, reports) while it is read.

    - ``batched``: patterns that select whole namespaces (``ns``, ``prefix*``, ``*``) take the namespaces' event
      batches (far fewer messages, the same events); ``False`` takes one message per event. Run-level patterns
      (``ns/run``) always take plain events.
    - ``timeout``: seconds iteration waits for the next event before it raises :class:`PoolError` ``timeout``
      (None: no limit). :meth:`next` takes its own timeout and returns None instead.
    - ``buffer``: messages the SUB socket holds (``ZMQ_RCVHWM``); what a slow reader loses beyond it is fetched
      again from replay.
    - ``socket_options``: more options for the SUB socket, ``{zmq.OPTION: value}``, set before it connects.

    ``stats`` counts what was received, delivered, found missing (``gaps``), ``repaired``, ``lost``, dropped as
    ``duplicates`` or ``stale``, and the tail-check rounds (``tail_rounds``).

    With keys, a handshake the coordinator refuses (a key taken out of its allow-list: the coordinator makes every
    subscriber connect again on a reload) is given up by libzmq for good; the stream then connects its SUB socket
    again after 1 s, 2, 4, … up to every 30 s while it is read, so a key put back in the list is followed again.
    ``stats`` counts the refusals (``refused``) and the returns (``accepted_again``).
    """

    def __init__(
        self, client, pattern, from_start=False, batched=True, timeout=None, buffer=100_000, socket_options=None
    ):
        self.pattern = pattern
        self.timeout = timeout
        self._client = client
        self._prefix = _wire.pattern_prefix(pattern)
        self._request_timeout = client.timeout
        self._closed = False
        token = os.urandom(8).hex()
        self.name = token
        self._sync = _wire.SYNC_PREFIX + token.encode()
        self._tick = self._sync + b"-tick"
        self._ready = collections.deque()
        self._early = collections.deque()
        self.sequencer = Sequencer(self._fetch)
        self.stats = self.sequencer.stats
        self.stats.update(refused=0, accepted_again=0)
        self._ticks = 0
        self._monitor = None
        self._refusals = 0  # in a row, since the last handshake that succeeded
        self._reconnect_at = None

        from .client import _Control

        self._control = _Control(client.context, client.endpoint, client.keys)
        self._sub = client.context.socket(zmq.SUB)
        try:
            self._sub.linger = 0
            self._sub.rcvhwm = buffer
            self._sub.setsockopt(zmq.RECONNECT_IVL, 100)
            for option, value in (socket_options or {}).items():
                self._sub.setsockopt(option, value)
            if client.keys is not None:
                client.keys.secure(self._sub)
                self._monitor = self._sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | _REFUSALS)
            self._endpoint = _wire.join_host_port(client.host, client.events_port)
            self._sub.connect(self._endpoint)
            # The pattern first, then the handshake topic: the coordinator applies them in this order.
            use_batches = batched and _wire.selects_whole_namespaces(self._prefix)
            self._sub.setsockopt(zmq.SUBSCRIBE, (_wire.BATCH_PREFIX if use_batches else b"") + self._prefix)
            self._sub.setsockopt(zmq.SUBSCRIBE, self._sync)
            self._handshake()
            self._sub.setsockopt(zmq.SUBSCRIBE, self._tick)
            self._next_tick = time.monotonic() + TICK_SECONDS
            if from_start:
                # Live events wait in the socket meanwhile; those the history holds too are dropped as duplicates.
                try:
                    pairs = self._control.replay(self._request_timeout, pattern=pattern)
                except PoolError as error:
                    raise PoolError(error.code, f"the history of {pattern!r}: {error.message}") from None
                history = [e for e in (self._decode(t, env) for t, env in pairs) if e is not None]
                self._ready.extend(self.sequencer.history(history))
        except BaseException:
            self.close()
            raise

    def _handshake(self):
        deadline = time.monotonic() + self._request_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sub.poll(int(left * 1000) + 1):
                hint = ": is this key one that may subscribe (role client or subscriber)?" if self._client.keys else ""
                raise PoolError(
                    "timeout",
                    "no answer to the subscription handshake from the events endpoint within "
                    f"{self._request_timeout} s{hint}",
                )
            frames = self._sub.recv_multipart()
            if frames[0] == self._sync:
                echo = _wire.decode(frames[1]) if len(frames) == 2 else {}
                refused = echo.get("refused")
                if refused:
                    raise PoolError(
                        "forbidden",
                        f"the coordinator did not apply the subscription {', '.join(map(repr, refused))} "
                        f"(pattern {self.pattern!r}): it is outside this key's namespaces",
                    )
                return
            self._early.append(frames)

    # Iteration

    def __iter__(self):
        return self

    def __next__(self):
        e = self.next(self.timeout)
        if e is None:
            if self._closed:
                raise StopIteration
            raise PoolError("timeout", f"no event of {self.pattern!r} within {self.timeout} s")
        return e

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def next(self, timeout=None):
        """The next event, or None when none came within ``timeout`` seconds (None: wait as long as it takes) or
        the stream is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready:
            if self._closed:
                return None
            if self._early:
                self._handle(self._early.popleft())
                continue
            now = time.monotonic()
            if now >= self._next_tick:
                self._on_tick_due(now)
            wait = self._next_tick - now
            if deadline is not None:
                if now >= deadline:
                    return None
                wait = min(wait, deadline - now)
            if self._sub.poll(max(0, int(wait * 1000)) + 1):
                self._handle(self._sub.recv_multipart())
        return self._ready.popleft()

    def close(self):
        """Ends the subscription."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._monitor is not None:
                self._sub.disable_monitor()
                self._monitor.close(linger=0)
            self._sub.close(linger=0)
            self._control.close()
        except zmq.ZMQError:
            pass

    # Work

    def _decode(self, topic, envelope):
        e = _wire.decode_event(envelope)
        if e is None:
            self.stats["invalid"] += 1
        return e

    def _handle(self, frames):
        if len(frames) != 2 or not frames[0]:
            self.stats["invalid"] += 1
            return
        topic, body = frames
        if topic[0] == 0:
            if topic == self._tick:
                self._tail_check()
            return  # other echoes: the handshake again, after a reconnect
        if topic[0] == 1:
            try:
                pairs = _wire.unpack_batch(body)
            except ValueError:
                self.stats["invalid"] += 1
                return
            self.stats["batches"] += 1
            for t, envelope in pairs:
                if t.startswith(self._prefix):
                    e = self._decode(t, envelope)
                    if e is not None:
                        self._ready.extend(self.sequencer.live(e))
            return
        e = self._decode(topic, body)
        if e is not None:
            self._ready.extend(self.sequencer.live(e))

    def _on_tick_due(self, now):
        self._next_tick = now + TICK_SECONDS
        self._watch_handshakes(now)
        self._sub.setsockopt(zmq.SUBSCRIBE, self._tick)
        self._ticks += 1
        self._control.drain()
        if self._ticks % REPORT_EVERY_TICKS == 0:
            self._report()

    def _watch_handshakes(self, now):
        """Reads the SUB socket's handshake outcomes; after a refusal connects it again when its wait is over."""
        while self._monitor is not None and self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                if self._refusals:
                    self.stats["accepted_again"] += 1
                self._refusals = 0
            elif event & _REFUSALS and self._reconnect_at is None:
                self._refusals += 1
                self.stats["refused"] += 1
                self._reconnect_at = now + min(2 ** (self._refusals - 1), MAX_RECONNECT_SECONDS)
        if self._reconnect_at is not None and now >= self._reconnect_at:
            self._reconnect_at = None
            try:
                self._sub.disconnect(self._endpoint)
            except zmq.ZMQError:
                pass  # libzmq already forgot the refused connection
            self._sub.connect(self._endpoint)

    def _tail_check(self):
        ranges = self.sequencer.tail_checks()
        for i in range(0, len(ranges), MAX_RANGES_PER_REPLAY):
            found = self._fetch(ranges[i : i + MAX_RANGES_PER_REPLAY])
            if found:
                self._ready.extend(self.sequencer.tail_replayed(found))

    def _fetch(self, ranges):
        try:
            pairs = self._control.replay(self._request_timeout, ranges=ranges)
        except PoolError:
            return None
        return [e for e in (self._decode(t, env) for t, env in pairs) if e is not None]

    def _report(self):
        s = self.stats
        self._control.send(
            "subscriber_report",
            subscriber=self.name,
            pattern=self.pattern,
            host=_socket.gethostname()[:256],
            pid=os.getpid(),
            received=s["received"],
            delivered=s["delivered"],
            gaps=s["gaps"],
            repaired=s["repaired"],
            lost=s["lost"],
            buffer_drops=0,
        )
