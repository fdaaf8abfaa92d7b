"""Submits N runs with a large input to a coordinator, one at a time, and counts the answers.

Measures what a flood of large submits costs the coordinator when no worker takes them (run it against a
coordinator started without workers and read the coordinator's VmRSS afterwards): accepted runs keep their
input until they end, and the coordinator refuses submits with pool_full past --max-queue runs or
--max-queue-mb of held input. Written from docs/PROTOCOL.md ("submit"); uses the reference pool's pyzmq:

    bench/python/run.sh --help >/dev/null   # creates bench/python/.venv with pyzmq
    bench/python/.venv/bin/python bench/python/submit_flood.py tcp://127.0.0.1:5570 10000 100000
"""

import json
import sys

import zmq


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: submit_flood.py CONTROL_ENDPOINT RUNS INPUT_BYTES")
    endpoint, runs, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    context = zmq.Context()
    control = context.socket(zmq.DEALER)
    control.setsockopt(zmq.RCVTIMEO, 30_000)
    control.connect(endpoint)
    question = "x" * size
    counts: dict[str, int] = {}
    for i in range(runs):
        request = {
            "v": 1, "op": "submit", "id": f"c{i}", "flow": "agent4", "ns": "flood", "run": f"r{i}",
            "input": {"question": question},
        }
        control.send(json.dumps(request).encode())
        reply = json.loads(control.recv())
        outcome = "accepted" if reply.get("op") == "accepted" else reply.get("code", "other")
        counts[outcome] = counts.get(outcome, 0) + 1
    print(" ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
