#!/usr/bin/env python3
"""The fuzz targets' seed corpus, and a reader for their inputs.

    python3 Fuzz/corpus.py seeds          # (re)writes the seeds in Fuzz/Corpus/<target>/ (crash-* files stay)
    python3 Fuzz/corpus.py frames FILE    # prints an input's frames as a Swift array literal

Seeds are messages from docs/PROTOCOL.md. Targets that read several frames (every target but control_request,
event_batch and json_value) take each frame as a little-endian uint16 length and that many bytes (FuzzInput).
"""

import json
import struct
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "Corpus"


def j(obj):
    """Compact JSON, members in the given order, as FlowPool writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def framed(*frames):
    """Frames as one fuzz input: each a little-endian uint16 length and its bytes."""
    return b"".join(struct.pack("<H", len(f)) + f for f in frames)


def packed(*events):
    """An event batch body: per event, uint32 topic length, topic, uint32 envelope length, envelope."""
    return b"".join(struct.pack("<I", len(t)) + t + struct.pack("<I", len(e)) + e for t, e in events)


def event(ns, run, kind, attempt=1, seq=1, content=None, node="final_answer"):
    """An event's topic and envelope."""
    topic = f"{ns}/{run}/{kind}".encode()
    envelope = j({"v": 1, "ns": ns, "run": run, "attempt": attempt, "seq": seq, "type": kind, "node": node,
                  "ts": 1764042442.125, "content": content if content is not None else {"text": "tok0 "}})
    return topic, envelope


CHUNK = event("sales_agent", "3f9c2a-17", "chunk", seq=5)
FINAL = event("sales_agent", "3f9c2a-17", "final", seq=13, content="tok0 tok1 ", node="agent4")
ERROR = event("sales_agent", "9jbbo-43", "error", attempt=2, seq=4,
              content={"error": "all 3 attempts were lost", "code": "attempts_exhausted"}, node="flowpool")
REORDERED = (b"sales_agent/r1/progress",
             b'{"type":"progress","seq":2,"attempt":1,"run":"r1","ns":"sales_agent","v":1,"ts":12,"node":"n",'
             b'"content":[1,2.5,"\\u00e9",null,true],"extra":{}}')

SUBMIT = {"v": 1, "op": "submit", "id": "c-17", "flow": "agent4", "ns": "sales_agent", "run": "optional-run-id",
          "input": {"question": "hi"}, "reply": True, "max_attempts": 3}
RESULT_OK = {"v": 1, "op": "result", "id": "c-17", "job": "9jbbo-42", "ns": "sales_agent", "run": "3f9c2a-17",
             "status": "completed", "attempts": 1, "result": "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 "}
RESULT_FAILED = {"v": 1, "op": "result", "id": "c-18", "job": "9jbbo-43", "ns": "sales_agent", "run": "9jbbo-43",
                 "status": "failed", "attempts": 3,
                 "error": {"code": "attempts_exhausted", "message": "all 3 attempts were lost (last: no ack)"}}
JOB = {"v": 1, "op": "job", "job": "9jbbo-42", "attempt": 1, "flow": "agent4", "ns": "sales_agent",
       "run": "3f9c2a-17", "input": {"question": "hi"}}

SEEDS = {
    "control_request": {
        "hello": j({"v": 1, "op": "hello", "id": "h1"}),
        "hello-batch-results": j({"v": 1, "op": "hello", "id": "h1", "batch_results": True}),
        "submit": j(SUBMIT),
        "submit-minimal": j({"v": 1, "op": "submit", "id": "c-1", "flow": "agent4", "ns": "sales_agent"}),
        "submit-reordered": j({"op": "submit", "ns": "sales_agent", "flow": "agent4", "v": 1, "id": "c-2",
                               "reply": False, "run": None}),
        "submit-batch": j({"v": 1, "op": "submit_batch", "id": "b1", "runs": [
            {"id": "c-1", "flow": "agent4", "ns": "sales_agent", "input": {"question": "hi"}},
            {"id": "c-2", "flow": "agent4", "ns": "sales_agent", "run": "r2", "reply": False, "max_attempts": 2}]}),
        "get-result": j({"v": 1, "op": "get_result", "id": "g1", "ns": "sales_agent", "run": "3f9c2a-17"}),
        "status": j({"v": 1, "op": "status", "id": "s1"}),
        "replay-pattern": j({"v": 1, "op": "replay", "id": "r1", "pattern": "sales_agent"}),
        "replay-ranges": j({"v": 1, "op": "replay", "id": "r2", "ranges": [
            {"ns": "sales_agent", "run": "3f9c2a-17", "attempt": 1, "from_seq": 4, "to_seq": 9}]}),
        "subscriber-report": j({"v": 1, "op": "subscriber_report", "id": "s7", "subscriber": "k2x9",
                                "pattern": "sales_agent", "host": "web-1", "pid": 4242, "received": 120000,
                                "delivered": 119990, "gaps": 35, "repaired": 35, "lost": 0, "buffer_drops": 12}),
    },
    "worker_report": {
        "hello": framed(j({"v": 1, "op": "hello", "worker": "w1", "host": "box", "pid": 7, "concurrency": 4,
                           "flows": ["agent4"], "batch_jobs": True, "batch_results": True})),
        "ready": framed(j({"v": 1, "op": "ready", "credit": 32})),
        "heartbeat": framed(j({"v": 1, "op": "heartbeat", "in_flight": 2, "completed": 10, "draining": False})),
        "stalled": framed(j({"v": 1, "op": "stalled", "worker": "w1", "busy_ms": 750, "credential": "k"})),
        "ack": framed(j({"v": 1, "op": "ack", "job": "9jbbo-42", "attempt": 1})),
        "ack-jobs": framed(j({"v": 1, "op": "ack", "jobs": [{"job": "9jbbo-42", "attempt": 1},
                                                            {"job": "9jbbo-43", "attempt": 2}]})),
        "result": framed(j({"v": 1, "op": "result", "job": "9jbbo-42", "attempt": 1, "status": "completed",
                            "result": "tok0 tok1 "}), *FINAL),
        "results": framed(j({"v": 1, "op": "results", "results": [
            {"job": "9jbbo-42", "attempt": 1, "status": "completed", "result": "tok0 tok1 "},
            {"job": "9jbbo-43", "attempt": 2, "status": "failed",
             "error": {"code": "flow_failed", "message": "boom"}}]}), *FINAL, *ERROR),
        "bye": framed(j({"v": 1, "op": "bye"})),
    },
    "worker_command": {
        "job": framed(j(JOB)),
        "jobs": framed(j({"v": 1, "op": "jobs", "jobs": [JOB, dict(JOB, job="9jbbo-43", attempt=2, run="r2")]})),
        "reregister": framed(j({"v": 1, "op": "reregister"})),
        "drain-ack": framed(j({"v": 1, "op": "drain_ack"})),
        "registered": framed(j({"v": 1, "op": "registered", "batch_results": True, "credential": "k"})),
        "error": framed(j({"v": 1, "op": "error", "code": "bad_request", "message": "ready: field \"credit\""})),
    },
    "control_reply": {
        "welcome": framed(j({"v": 1, "op": "welcome", "id": "h1", "coordinator": "9jbbo", "host": None,
                             "ports": {"workers": 5571, "events_in": 5572, "events_out": 5573},
                             "limits": {"max_message_bytes": 4194304, "max_queue": 10000}})),
        "accepted": framed(j({"v": 1, "op": "accepted", "id": "c-17", "job": "9jbbo-42", "ns": "sales_agent",
                              "run": "3f9c2a-17"})),
        "accepted-batch": framed(j({"v": 1, "op": "accepted_batch", "id": "b1", "items": [
            {"id": "c-1", "job": "9jbbo-42", "ns": "sales_agent", "run": "3f9c2a-17"},
            {"id": "c-2", "code": "pool_full", "message": "the pool is full"}]})),
        "result": framed(j(RESULT_OK)),
        "result-failed": framed(j(RESULT_FAILED)),
        "result-batch": framed(j({"v": 1, "op": "result_batch", "results": [RESULT_OK, RESULT_FAILED]})),
        "status": framed(j({"v": 1, "op": "status", "id": "s1", "body": {"coordinator": "9jbbo", "queue_depth": 0,
                                                                         "workers": []}})),
        "replay-batch": framed(j({"v": 1, "op": "replay_batch", "id": "r1", "count": 2, "last": True,
                                  "missing": ["sales_agent/gone"]}), *CHUNK, *FINAL),
        "ok": framed(j({"v": 1, "op": "ok", "id": "s7"})),
        "error": framed(j({"v": 1, "op": "error", "id": None, "code": "bad_request", "message": "not JSON"})),
    },
    "envelope_header": {
        "chunk": framed(*CHUNK),
        "final": framed(*FINAL),
        "error": framed(*ERROR),
        "reordered": framed(*REORDERED),
    },
    "wire_event": {
        "chunk": framed(*CHUNK),
        "final": framed(*FINAL),
        "error": framed(*ERROR),
        "reordered": framed(*REORDERED),
    },
    "event_batch": {
        "two-events": packed(CHUNK, FINAL),
        "one-event": packed(ERROR),
    },
    "json_value": {
        "envelope": CHUNK[1],
        "submit": j(SUBMIT),
        "numbers": b'[0,-1,12.5e3,1E-7,9007199254740991,-0.0,1.0e+308]',
        "strings": b'["\\u00e9\\ud83d\\ude00","\\"\\\\\\/\\b\\f\\n\\r\\t","\xc3\xa9\xf0\x9f\x98\x80"]',
        "nested": b' {"a" : [ {"b":{}} , [] , null , true , false ] } ',
    },
}

# coordinator_state: steps of PoolScenario, each its number (PoolScenario.Step, in order), a worker number and
# the step's choices, one byte each.
SUBMIT, SUBMIT_BATCH, HELLO, READY, HEARTBEAT, ACK, RESULT, RESULTS, EVENT, TERMINAL_EVENT, EVENT_BATCH, BYE, \
    STALLED, TICK, UNREACHABLE, DRAIN, GET_RESULT = range(17)


def steps(*rows):
    return bytes(b for row in rows for b in row)


def happy_run(k=0, run=1):
    """A run from submit to result on worker k: events, terminal event, result, then ready again."""
    return [
        (SUBMIT, k, 0, 1, 0, run, 0),          # client c0, reply, namespace sales, run id, default attempts
        (HELLO, k, 1, 0, 1),                   # concurrency 2, single jobs, batch results offered
        (READY, k, 1),                         # credit 2: the job is dispatched
        (ACK, k, 1, 0),
        (EVENT, k, 1, 0, 2, 2, 1),             # a chunk, own credential, as a single event
        (EVENT_BATCH, k, 1, 1, 0, 1, 2, 1, 0, 1, 2, 2),  # two chunks in one batch
        (TERMINAL_EVENT, k, 1, 0, 2, 0, 2, 1), # the final event
        (RESULT, k, 1, 0, 1, 1, 2, 1),         # completed, with its terminal event
        (TICK, k, 2, 0, 0),                   # one second, everything read
        (GET_RESULT, k, 0, run - 1),
    ]


SEEDS["coordinator_state"] = {
    "happy-run": steps(*happy_run()),
    "two-workers": steps(*happy_run(0, 1), *happy_run(1, 2), (HEARTBEAT, 1, 1), (TICK, 0, 3, 2, 3)),
    "result-before-terminal": steps(
        (SUBMIT, 0, 1, 1, 1, 2, 3), (HELLO, 0, 0, 1, 1), (READY, 0, 0), (ACK, 0, 1, 0),
        (RESULT, 0, 1, 0, 1, 1, 2, 1), (TERMINAL_EVENT, 0, 1, 0, 2, 0, 2, 1), (TICK, 0, 4, 0, 0)),
    "worker-dies": steps(
        (SUBMIT_BATCH, 0, 0, 2, 1, 0, 1, 0, 1, 1, 2, 2, 1, 0, 3, 0), (HELLO, 0, 3, 0, 0), (READY, 0, 3),
        (ACK, 0, 1, 0), (EVENT, 0, 1, 0, 2, 2, 1), (TICK, 0, 3, 0, 0), (TICK, 0, 3, 0, 0), (HELLO, 1, 3, 1, 1),
        (READY, 1, 3),
        (RESULTS, 1, 1, 1, 0, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1)),
    "bye-and-drain": steps(*happy_run()[:4], (BYE, 0), (DRAIN, 0), (SUBMIT, 0, 0, 1, 0, 3, 0), (TICK, 0, 5, 0, 0),
                           (STALLED, 0, 1), (UNREACHABLE, 0)),
}


def write_seeds():
    for target, seeds in SEEDS.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
    print(f"wrote {sum(len(s) for s in SEEDS.values())} seeds under {CORPUS}")


def swift_bytes(data):
    return "[" + ", ".join(str(b) for b in data) + "]"


def print_frames(path):
    data = Path(path).read_bytes()
    frames, i = [], 0
    while i < len(data) and len(frames) < 600:
        if i + 2 > len(data):
            frames.append(data[i:])
            break
        n = data[i] | data[i + 1] << 8
        frames.append(data[i + 2:i + 2 + n])
        i += 2 + n
    print("// as one frame (control_request, event_batch, json_value):")
    print(swift_bytes(data))
    print("// as frames (the other targets):")
    print("[" + ",\n ".join(swift_bytes(f) for f in frames) + "]")
    for f in frames:
        print("//", repr(f))


if __name__ == "__main__":
    if sys.argv[1:2] == ["seeds"]:
        write_seeds()
    elif sys.argv[1:2] == ["frames"] and len(sys.argv) == 3:
        print_frames(sys.argv[2])
    else:
        sys.exit(__doc__)
