#!/usr/bin/env python3
"""A FlowPool subscriber with CURVE keys, written from docs/PROTOCOL.md ("Security") with pyzmq only.

Follow a namespace until N runs have ended with `final`, printing every event of it as a JSON line (the
envelope) on standard output:

    curve_subscriber.py --control tcp://127.0.0.1:5570 --key-file watcher.key_secret \
        --coordinator-key coordinator.key --namespace support --runs 3

`ready` on standard error means the subscription is active (the sync echo came back, with no `refused`).

Check what the key may not do (each check prints one JSON line; exit 0 when every one held):

    curve_subscriber.py … --outside billing --flow sleep

subscribing to `billing/` and `\\x01batch/billing/` is not applied (the sync echo lists both in `refused`), and
`submit` and `replay` in `billing` get the error `forbidden`.

Check that a key not in the allow-list is refused at the handshake (ZAP status 400 in a socket monitor):

    curve_subscriber.py … --expect-handshake-refused

Exit status: 0 done, 1 a check failed, 2 the deadline (--timeout) passed.
"""

import argparse
import json
import os
import sys
import time

import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message


def fail(message, status=1):
    print(f"curve_subscriber: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def emit(obj):
    print(json.dumps(obj, separators=(",", ":")), flush=True)


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left_ms(self, what):
        left = self.end - time.monotonic()
        if left <= 0:
            fail(f"timed out waiting for {what}", 2)
        return int(left * 1000) + 1


def secure(sock, args):
    """Makes `sock` a CURVE client of the coordinator (before connect)."""
    public, secret = zmq.auth.load_certificate(args.key_file)
    if secret is None:
        fail(f"{args.key_file} holds no secret key: give NAME.key_secret")
    server = args.coordinator_key.encode()
    if not (len(server) == 40 and not os.path.exists(args.coordinator_key)):
        server, _ = zmq.auth.load_certificate(args.coordinator_key)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_serverkey = server


class Control:
    """The DEALER to the control endpoint: one request, its reply (or replay batches)."""

    def __init__(self, ctx, args, deadline):
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        secure(self.sock, args)
        self.sock.connect(args.control)
        self.deadline = deadline
        self.counter = 0

    def request(self, op, **fields):
        self.counter += 1
        rid = f"py-{self.counter}"
        self.sock.send(json.dumps({"v": 1, "op": op, "id": rid, **fields}).encode())
        return rid

    def recv(self, what):
        if not self.sock.poll(self.deadline.left_ms(what)):
            fail(f"timed out waiting for {what}", 2)
        return self.sock.recv_multipart()

    def reply(self, rid, what):
        while True:
            frames = self.recv(what)
            message = json.loads(frames[0])
            if message.get("id") == rid:
                return message

    def replay(self, **fields):
        """The events of a replay: [(topic, envelope)], or the error reply."""
        rid = self.request("replay", **fields)
        events = []
        while True:
            frames = self.recv("replay")
            head = json.loads(frames[0])
            if head.get("id") != rid:
                continue
            if head["op"] != "replay_batch":
                return head
            events += list(zip(frames[1::2], frames[2::2]))
            if head["last"]:
                return events


def subscribe(sub, prefixes, deadline):
    """Subscribes to `prefixes`, then to a sync token; returns the echo (the subscriptions are then judged)."""
    for prefix in prefixes:
        sub.setsockopt(zmq.SUBSCRIBE, prefix)
    token = b"\x00sync/" + os.urandom(8).hex().encode()
    sub.setsockopt(zmq.SUBSCRIBE, token)
    held = []
    while True:
        if not sub.poll(deadline.left_ms("the sync echo")):
            fail("timed out waiting for the sync echo", 2)
        topic, body = sub.recv_multipart()
        if topic == token:
            return json.loads(body), held
        held.append((topic, body))


def follow(args, ctrl, sub, deadline):
    prefix = (args.namespace + "/").encode()
    echo, early = subscribe(sub, [prefix], deadline)
    if echo.get("refused"):
        fail(f"subscription to {prefix!r} refused: {echo['refused']}")
    print("ready", file=sys.stderr, flush=True)

    last = {}  # run -> (attempt, seq) delivered
    finals = set()

    def deliver(topic, envelope):
        e = json.loads(envelope)
        if e["ns"] != args.namespace:
            fail(f"event of another namespace: {topic!r}")
        if topic.decode() != f"{e['ns']}/{e['run']}/{e['type']}":
            fail(f"topic {topic!r} does not match its envelope")
        attempt, seq = last.get(e["run"], (0, 0))
        if e["attempt"] < attempt or (e["attempt"] == attempt and e["seq"] <= seq):
            return  # stale attempt or duplicate
        if e["attempt"] > attempt:
            seq = 0
        if e["seq"] > seq + 1:
            # A gap: fetch the missing events (in this key's namespace) before this one.
            missing = ctrl.replay(
                ranges=[{"ns": e["ns"], "run": e["run"], "attempt": e["attempt"], "from_seq": seq + 1,
                         "to_seq": e["seq"] - 1}]
            )
            if isinstance(missing, dict):
                fail(f"replay refused: {missing}")
            for t, env in missing:
                deliver(t, env)
        emit(e)
        last[e["run"]] = (e["attempt"], e["seq"])
        if e["type"] == "final":
            finals.add(e["run"])

    for topic, envelope in early:
        if topic[:1] not in (b"\x00", b"\x01"):
            deliver(topic, envelope)
    while len(finals) < args.runs:
        if not sub.poll(deadline.left_ms(f"final events of {args.runs} runs ({len(finals)} so far)")):
            fail(f"timed out with {len(finals)} of {args.runs} final events", 2)
        topic, envelope = sub.recv_multipart()
        if topic[:1] in (b"\x00", b"\x01"):
            continue  # handshake echoes and event batches
        deliver(topic, envelope)
    print(f"done: {len(finals)} runs", file=sys.stderr, flush=True)


def outside(args, ctrl, sub, deadline):
    ns = args.outside
    prefixes = [f"{ns}/".encode(), f"\x01batch/{ns}/".encode()]
    echo, _ = subscribe(sub, prefixes, deadline)
    refused = echo.get("refused") or []
    emit({"check": "subscription", "refused": refused})
    ok = sorted(refused) == sorted(p.decode() for p in prefixes)

    rid = ctrl.request("submit", flow=args.flow, ns=ns, input={"ms": 1})
    reply = ctrl.reply(rid, "the submit's reply")
    emit({"check": "submit", "reply": reply})
    ok = ok and reply.get("op") == "error" and reply.get("code") == "forbidden"

    reply = ctrl.replay(pattern=ns)
    emit({"check": "replay", "reply": reply})
    ok = ok and isinstance(reply, dict) and reply.get("op") == "error" and reply.get("code") == "forbidden"
    if not ok:
        fail("a forbidden request was not refused as documented")


def handshake_refused(args, ctx, deadline):
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    secure(sock, args)
    monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_SUCCEEDED)
    sock.connect(args.control)
    sock.send(json.dumps({"v": 1, "op": "hello", "id": "h1"}).encode())
    while True:
        if not monitor.poll(deadline.left_ms("the handshake's outcome")):
            fail("timed out waiting for the handshake's outcome", 2)
        event = recv_monitor_message(monitor)
        if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            fail("the handshake succeeded with a key that is not in the allow-list")
        emit({"check": "handshake", "event": "handshake_failed_auth", "status": event["value"]})
        if event["value"] != 400:
            fail(f"ZAP status {event['value']}, not 400")
        break
    if sock.poll(200):
        fail("a reply came through a refused connection")
    sock.disable_monitor()
    monitor.close()
    sock.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--control", required=True, help="the control endpoint, tcp://HOST:PORT")
    parser.add_argument("--key-file", required=True, help="this peer's NAME.key_secret")
    parser.add_argument("--coordinator-key", required=True, help="coordinator.key, or the 40-character key")
    parser.add_argument("--namespace", help="the namespace to follow")
    parser.add_argument("--runs", type=int, default=1, help="stop after this many final events")
    parser.add_argument("--outside", help="a namespace outside the key's: check that it is refused")
    parser.add_argument("--flow", default="sleep", help="the flow --outside tries to submit")
    parser.add_argument("--expect-handshake-refused", action="store_true")
    parser.add_argument("--timeout", type=float, default=60, help="seconds for the whole run")
    args = parser.parse_args()
    if not zmq.has("curve"):
        fail("this libzmq has no CURVE support")
    deadline = Deadline(args.timeout)
    ctx = zmq.Context()
    try:
        if args.expect_handshake_refused:
            handshake_refused(args, ctx, deadline)
            return
        ctrl = Control(ctx, args, deadline)
        welcome = ctrl.reply(ctrl.request("hello"), "welcome")
        if welcome.get("op") != "welcome":
            fail(f"hello answered with {welcome}")
        host = welcome.get("host") or args.control.rsplit(":", 1)[0].removeprefix("tcp://")
        sub = ctx.socket(zmq.SUB)
        sub.linger = 0
        secure(sub, args)
        sub.connect(f"tcp://{host}:{welcome['ports']['events_out']}")
        if args.outside:
            outside(args, ctrl, sub, deadline)
        elif args.namespace:
            follow(args, ctrl, sub, deadline)
        else:
            fail("give --namespace, --outside or --expect-handshake-refused")
    finally:
        ctx.destroy(linger=0)


if __name__ == "__main__":
    main()
