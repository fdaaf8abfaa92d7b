#!/usr/bin/env python3
"""Delay and loss on a host's link, in user space, for kernels without the netem queueing discipline.

Run inside a host's network namespace that has a TAP device (the host's interface, with its address) and an
uplink (a veth whose peer is a bridge port). Every frame the host sends (read from the TAP) is dropped with
probability LOSS or else sent on the uplink DELAY ± JITTER milliseconds later (uniformly distributed, each frame
on its own, so frames can be reordered); every frame arriving on the uplink is written to the TAP at once. That
is what `tc qdisc add dev eth0 root netem delay DELAYms JITTERms loss LOSS% limit LIMIT` does to what eth0 sends,
including netem's limit: a frame that finds LIMIT frames waiting is dropped (and counted apart).

A TAP device has no checksum or segmentation offload unless its owner asks for it, so every frame read from it is
complete and at most the MTU long: the frames can be sent as they are.

Prints `ready` on standard output once both ends are attached, one JSON line of counts on SIGUSR1 (frames "sent" on
the uplink, "lost", "over_limit", "send_errors" (the uplink down), "received" from it, "tap_drops": what the TAP's
queue dropped because the emulator fell behind), and the counts again when SIGTERM or SIGINT ends it (exit 0).

Usage: link-emulator.py --tap eth0 --uplink up0 --delay-ms 20 --jitter-ms 5 --loss-percent 1 [--limit 1000]
                        [--seed N]
"""

import argparse
import errno
import fcntl
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23


def open_tap(name):
    """Attaches to the TAP device `name` (made beforehand with `ip tuntap add dev NAME mode tap`)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def open_uplink(name):
    """A packet socket bound to `name` that receives every frame arriving there (not the ones it sends)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    try:
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass  # Kernels before 4.20: outgoing copies are skipped by their packet type below.
    s.bind((name, ETH_P_ALL))
    return s


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tap", required=True, help="the host's TAP device")
    parser.add_argument("--uplink", required=True, help="the veth towards the bridge")
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0)
    parser.add_argument("--loss-percent", type=float, default=0)
    parser.add_argument("--limit", type=int, default=1000, help="frames waiting at most (netem's default)")
    parser.add_argument("--seed", type=int, default=None, help="for the loss and jitter draws")
    args = parser.parse_args()
    if args.jitter_ms < 0 or args.jitter_ms > args.delay_ms:
        parser.error("--jitter-ms must be between 0 and --delay-ms")
    if not 0 <= args.loss_percent <= 100:
        parser.error("--loss-percent must be between 0 and 100")

    draw = random.Random(args.seed)
    delay = args.delay_ms / 1000
    jitter = args.jitter_ms / 1000
    loss = args.loss_percent / 100

    tap = open_tap(args.tap)
    uplink = open_uplink(args.uplink)
    counts = {"sent": 0, "lost": 0, "over_limit": 0, "send_errors": 0, "received": 0}
    stopping = []

    def stop(_signum, _frame):
        stopping.append(True)

    def tap_drops():
        """Frames the host sent that the TAP's queue dropped before they were read (the emulator fell behind)."""
        try:
            with open(f"/sys/class/net/{args.tap}/statistics/tx_dropped") as f:
                return int(f.read())
        except (OSError, ValueError):
            return -1

    def report(_signum, _frame):
        print(json.dumps(dict(counts, tap_drops=tap_drops())), flush=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, report)
    # A parent may have started it with signals blocked (they are inherited); these must arrive.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1})
    print("ready", flush=True)

    waiting = []  # (due, order, frame): a heap by due time; order keeps equal times first in, first out.
    order = 0
    clock = time.monotonic
    while not stopping:
        timeout = max(0.0, waiting[0][0] - clock()) if waiting else 0.5
        try:
            readable, _, _ = select.select([tap, uplink], [], [], timeout)
        except InterruptedError:
            continue
        if tap in readable:
            now = clock()
            for _ in range(256):
                try:
                    frame = os.read(tap, 65536)
                except BlockingIOError:
                    break
                if loss and draw.random() < loss:
                    counts["lost"] += 1
                elif len(waiting) >= args.limit:
                    counts["over_limit"] += 1
                else:
                    due = now + delay + (draw.uniform(-jitter, jitter) if jitter else 0)
                    heapq.heappush(waiting, (due, order, frame))
                    order += 1
        if uplink in readable:
            for _ in range(256):
                try:
                    frame, address = uplink.recvfrom(65536, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if address[2] == socket.PACKET_OUTGOING:
                    continue
                try:
                    os.write(tap, frame)
                    counts["received"] += 1
                except BlockingIOError:
                    pass
        now = clock()
        while waiting and waiting[0][0] <= now:
            _, _, frame = heapq.heappop(waiting)
            try:
                uplink.send(frame)
                counts["sent"] += 1
            except OSError as error:  # The uplink is down (its link is cut): the frame is gone, as on a wire.
                if error.errno not in (errno.ENETDOWN, errno.ENOBUFS, errno.EAGAIN):
                    raise
                counts["send_errors"] += 1
    report(None, None)


if __name__ == "__main__":
    sys.exit(main())
