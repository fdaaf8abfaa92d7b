#!/usr/bin/env python3
"""Hand-written Python reference of the FlowPool architecture: pyzmq + PocketFlow, workload agent4.

One file, three roles chosen by the first argument:

  pyzmq_pool.py [options]            coordinator + closed-loop driver (starts the other processes)
  pyzmq_pool.py worker ENDPOINTS     PULL jobs, run the PocketFlow flow, PUB events, PUSH results
  pyzmq_pool.py subscriber ENDPOINTS SUB to every sales_agent/ event, count events per run

The coordinator binds PUSH (jobs), PULL (results), XSUB/XPUB (event bus, zmq.proxy_steerable in a
thread) and PAIR (subscriber control) on 127.0.0.1 ephemeral ports and passes them on the command line.
All sockets keep pyzmq's default high-water marks (1000): events are dropped, not queued, when a PUB or
XPUB queue is full, as in any plain pyzmq PUB/SUB set-up.

Prints one JSON line on stdout and a summary on stderr.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid

import zmq
from pocketflow import Flow, Node

NAMESPACE = "sales_agent"
EVENTS_PER_RUN = 13
TOPIC_PREFIX = NAMESPACE + "/"


# --------------------------------------------------------------------------------------------------
# Workload: agent4 as a PocketFlow flow
# --------------------------------------------------------------------------------------------------

class EventPublisher:
    """Publishes the events of the run in progress on a PUB socket (one run at a time per worker)."""

    def __init__(self, pub, namespace):
        self.pub = pub
        self.namespace = namespace
        self.run_id = None
        self.seq = 0

    def begin(self, run_id):
        self.run_id = run_id
        self.seq = 0

    def emit(self, node, type_, content):
        self.seq += 1
        envelope = {
            "v": 1,
            "ns": self.namespace,
            "run": self.run_id,
            "seq": self.seq,
            "type": type_,
            "node": node,
            "ts": time.time(),
            "content": content,
        }
        topic = f"{self.namespace}/{self.run_id}/{type_}"
        self.pub.send_multipart([topic.encode("utf-8"), json.dumps(envelope).encode("utf-8")])


class EmittingNode(Node):
    name = "node"

    def __init__(self, events):
        super().__init__()
        self.events = events

    def emit(self, type_, content):
        self.events.emit(self.name, type_, content)


class DecisionNode(EmittingNode):
    name = "decision"

    def prep(self, shared):
        return shared["question"]

    def exec(self, question):
        self.emit("progress", {"status": "making_decision"})
        requests = [{"tool": "lookup", "q": question}]
        self.emit("decision_made", {"decision": "tool", "tool_requests": len(requests)})
        return {"action": "tool", "tool_requests": requests}

    def post(self, shared, prep_res, exec_res):
        shared["decision"] = exec_res
        return exec_res["action"]


class ToolParamsNode(EmittingNode):
    name = "tool_params"

    def prep(self, shared):
        return shared["decision"]["tool_requests"]

    def exec(self, requests):
        calls = [{"tool": r["tool"], "args": {"q": r["q"]}} for r in requests]
        self.emit("params_generated", {"count": len(calls)})
        return calls

    def post(self, shared, prep_res, exec_res):
        shared["params"] = exec_res


TOOLS = {"lookup": lambda q: len(q)}


class ToolExecNode(EmittingNode):
    name = "tool_exec"

    def prep(self, shared):
        return shared["params"]

    def exec(self, calls):
        results = []
        for call in calls:
            tool = TOOLS.get(call["tool"])
            results.append({"tool": call["tool"], "result": tool(call["args"]["q"]) if tool else 0})
        self.emit("tools_executed", {"count": len(results)})
        return results

    def post(self, shared, prep_res, exec_res):
        shared["tools"] = exec_res


class FinalAnswerNode(EmittingNode):
    name = "final_answer"

    def exec(self, prep_res):
        answer = ""
        for i in range(8):
            text = f"tok{i} "
            self.emit("chunk", {"text": text})
            answer += text
        self.emit("final", {"answer": answer})
        return answer

    def post(self, shared, prep_res, exec_res):
        shared["answer"] = exec_res


def make_agent4_flow(events):
    decision = DecisionNode(events)
    params = ToolParamsNode(events)
    tools = ToolExecNode(events)
    answer = FinalAnswerNode(events)
    decision - "tool" >> params
    params >> tools >> answer
    return Flow(start=decision)


# --------------------------------------------------------------------------------------------------
# Worker
# --------------------------------------------------------------------------------------------------

def worker_main(args):
    parent = os.getppid()
    ctx = zmq.Context()
    jobs = ctx.socket(zmq.PULL)
    jobs.connect(args.jobs)
    jobs.RCVTIMEO = 1000  # only to notice a vanished coordinator while idle
    results = ctx.socket(zmq.PUSH)
    results.connect(args.results)
    pub = ctx.socket(zmq.PUB)
    pub.connect(args.events_in)

    events = EventPublisher(pub, NAMESPACE)
    flow = make_agent4_flow(events)
    results.send_json({"ready": args.id})

    try:
        while True:
            try:
                job = jobs.recv_json()
            except zmq.Again:
                if os.getppid() != parent:
                    break
                continue
            run_id = job["run"]
            events.begin(run_id)
            shared = {"question": job["input"]["question"]}
            flow.run(shared)
            results.send_json({"run": run_id, "result": shared["answer"]})
    finally:
        ctx.destroy(linger=0)


# --------------------------------------------------------------------------------------------------
# Subscriber
# --------------------------------------------------------------------------------------------------

def subscriber_main(args):
    parent = os.getppid()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.connect(args.events_out)
    sub.setsockopt_string(zmq.SUBSCRIBE, TOPIC_PREFIX)
    control = ctx.socket(zmq.PAIR)
    control.connect(args.control)

    counts = {}
    total = 0
    bad = 0
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    poller.register(control, zmq.POLLIN)
    control.send_json({"ready": True})

    try:
        while True:
            ready = dict(poller.poll(1000))
            if not ready and os.getppid() != parent:
                break
            if sub in ready:
                # Take what is queued (bounded, so control requests are still answered).
                for _ in range(1000):
                    try:
                        topic, payload = sub.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    envelope = json.loads(payload)
                    run_id = envelope.get("run")
                    if run_id is None:
                        bad += 1
                        continue
                    counts[run_id] = counts.get(run_id, 0) + 1
                    total += 1
            if control in ready:
                request = control.recv_json()
                if request.get("op") == "count":
                    control.send_json({"total": total})
                elif request.get("op") == "report":
                    control.send_json({"total": total, "bad": bad, "counts": counts})
                    break
    finally:
        ctx.destroy(linger=1000)


# --------------------------------------------------------------------------------------------------
# Coordinator and driver
# --------------------------------------------------------------------------------------------------

def bind_ephemeral(sock):
    sock.bind("tcp://127.0.0.1:*")
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


def versions():
    try:
        from importlib.metadata import version
        pocketflow_version = version("pocketflow")
    except Exception:
        pocketflow_version = "unknown"
    return {
        "python": sys.version.split()[0],
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "pocketflow": pocketflow_version,
    }


def process_cpu_seconds(pid):
    """User + system CPU seconds of a live process, from /proc (None where unavailable)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Interrupted(Exception):
    pass


def on_sigterm(signum, frame):
    raise Interrupted(f"signal {signum}")


def coordinator_main(args):
    signal.signal(signal.SIGTERM, on_sigterm)
    ctx = zmq.Context()
    children = []
    proxy_thread = None
    proxy_control = None
    try:
        jobs = ctx.socket(zmq.PUSH)
        jobs_ep = bind_ephemeral(jobs)
        results = ctx.socket(zmq.PULL)
        results_ep = bind_ephemeral(results)
        xsub = ctx.socket(zmq.XSUB)
        events_in_ep = bind_ephemeral(xsub)
        xpub = ctx.socket(zmq.XPUB)
        events_out_ep = bind_ephemeral(xpub)
        sub_control = ctx.socket(zmq.PAIR)
        sub_control_ep = bind_ephemeral(sub_control)

        # Event bus: XSUB <-> XPUB forwarded in a thread, stopped through an inproc control socket.
        proxy_control = ctx.socket(zmq.PAIR)
        proxy_control.bind("inproc://proxy-control")
        proxy_peer = ctx.socket(zmq.PAIR)
        proxy_peer.connect("inproc://proxy-control")

        def run_proxy():
            try:
                zmq.proxy_steerable(xsub, xpub, None, proxy_peer)
            except zmq.ContextTerminated:
                pass
            finally:
                for s in (xsub, xpub, proxy_peer):
                    s.close(linger=0)

        proxy_thread = threading.Thread(target=run_proxy, name="event-bus", daemon=True)
        proxy_thread.start()

        me = os.path.abspath(__file__)
        children.append(subprocess.Popen(
            [sys.executable, me, "subscriber", "--events-out", events_out_ep, "--control", sub_control_ep]))
        for i in range(args.workers):
            children.append(subprocess.Popen(
                [sys.executable, me, "worker", "--id", str(i), "--jobs", jobs_ep,
                 "--results", results_ep, "--events-in", events_in_ep]))

        # Wait for every worker and the subscriber to be connected.
        results.RCVTIMEO = 100
        sub_control.RCVTIMEO = 100
        deadline = time.monotonic() + 30
        ready_workers = set()
        subscriber_ready = False
        while len(ready_workers) < args.workers or not subscriber_ready:
            if time.monotonic() > deadline:
                raise RuntimeError("workers or subscriber did not start in 30 s")
            for c in children:
                if c.poll() is not None:
                    raise RuntimeError(f"child {c.args[2]} exited with {c.returncode}")
            try:
                ready_workers.add(results.recv_json()["ready"])
            except zmq.Again:
                pass
            if not subscriber_ready:
                try:
                    subscriber_ready = bool(sub_control.recv_json().get("ready"))
                except zmq.Again:
                    pass
        time.sleep(0.5)  # let subscriptions reach the workers' PUB sockets (slow joiner)

        # Closed loop: keep `window` jobs in flight.
        submitted_at = {}
        completed = set()
        measured_latencies = []
        measured_done = 0
        submitted_after_warmup = set()
        seq = 0

        def submit(now, measured):
            nonlocal seq
            seq += 1
            run_id = uuid.uuid4().hex
            submitted_at[run_id] = now
            if measured:
                submitted_after_warmup.add(run_id)
            jobs.send_json({"run": run_id, "ns": NAMESPACE, "input": {"question": f"What were sales for region {seq % 97}?"}})

        start = time.perf_counter()
        measure_from = start + args.warmup
        end = measure_from + args.duration
        for _ in range(args.window):
            submit(start, False)

        while True:
            try:
                msg = results.recv_json()
            except zmq.Again:
                if time.perf_counter() >= end:
                    break
                continue
            now = time.perf_counter()
            run_id = msg["run"]
            t0 = submitted_at.pop(run_id, None)
            if t0 is None:
                continue
            completed.add(run_id)
            if msg.get("result") != "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 ":
                print(f"unexpected result for {run_id}: {msg.get('result')!r}", file=sys.stderr)
            if measure_from <= now < end:
                measured_done += 1
                measured_latencies.append(now - t0)
            if now >= end:
                break
            submit(now, now >= measure_from)
        measured_seconds = min(time.perf_counter(), end) - measure_from

        # Drain: no new submissions, wait for what is still in flight.
        drain_deadline = time.monotonic() + 10
        while submitted_at and time.monotonic() < drain_deadline:
            try:
                msg = results.recv_json()
            except zmq.Again:
                continue
            if submitted_at.pop(msg["run"], None) is not None:
                completed.add(msg["run"])
        outstanding = len(submitted_at)

        # Let the subscriber catch up: wait until its count stops growing.
        sub_control.RCVTIMEO = 5000
        last = -1
        stable_since = time.monotonic()
        sub_deadline = time.monotonic() + 10
        while time.monotonic() < sub_deadline:
            sub_control.send_json({"op": "count"})
            total = sub_control.recv_json()["total"]
            if total >= EVENTS_PER_RUN * len(completed):
                break
            if total != last:
                last, stable_since = total, time.monotonic()
            elif time.monotonic() - stable_since >= 0.5:
                break
            time.sleep(0.1)
        sub_control.send_json({"op": "report"})
        report = sub_control.recv_json()
        counts = report["counts"]

        def tally(runs):
            expected = EVENTS_PER_RUN * len(runs)
            received = sum(min(counts.get(r, 0), EVENTS_PER_RUN) for r in runs)
            return expected, received

        events_expected, events_received = tally(completed)
        events_lost = events_expected - events_received
        measured_runs = completed & submitted_after_warmup
        m_expected, m_received = tally(measured_runs)
        complete_runs = sum(1 for r in completed if counts.get(r, 0) >= EVENTS_PER_RUN)
        extra_events = report["total"] - sum(counts.get(r, 0) for r in completed)

        # CPU used over the whole run (start-up and warm-up included); children are still alive here.
        cpu = {
            "coordinator": round(time.process_time(), 3),
            "subscriber": process_cpu_seconds(children[0].pid),
            "workers": [process_cpu_seconds(c.pid) for c in children[1:]],
        }
        cpu_values = [cpu["coordinator"], cpu["subscriber"], *cpu["workers"]]
        cpu_total = sum(v for v in cpu_values if v is not None)

        latencies = sorted(measured_latencies)
        out = {
            "bench": "pyzmq_pool",
            "workload": "agent4",
            "workers": args.workers,
            "window": args.window,
            "warmup_s": args.warmup,
            "duration_s": round(measured_seconds, 3),
            "jobs_measured": measured_done,
            "jobs_per_s": round(measured_done / measured_seconds, 1) if measured_seconds > 0 else None,
            "runs_completed": len(completed),
            "runs_outstanding": outstanding,
            "runs_with_all_events": complete_runs,
            "events_expected": events_expected,
            "events_received": events_received,
            "events_lost": events_lost,
            "loss_pct": round(100.0 * events_lost / events_expected, 3) if events_expected else None,
            "loss_pct_after_warmup": round(100.0 * (m_expected - m_received) / m_expected, 3) if m_expected else None,
            "events_other": extra_events,
            "latency_ms": {
                "p50": round(percentile(latencies, 50) * 1000, 3) if latencies else None,
                "p99": round(percentile(latencies, 99) * 1000, 3) if latencies else None,
                "mean": round(statistics.fmean(latencies) * 1000, 3) if latencies else None,
                "max": round(latencies[-1] * 1000, 3) if latencies else None,
            },
            "cpu_s": cpu,
            "cpu_us_per_run": round(1e6 * cpu_total / len(completed), 1) if completed else None,
            "hwm": jobs.getsockopt(zmq.SNDHWM),
            "cpu_count": os.cpu_count(),
            **versions(),
        }
        print(json.dumps(out), flush=True)
        print(
            f"pyzmq_pool agent4: {args.workers} workers, window {args.window}, {measured_seconds:.2f} s measured: "
            f"{out['jobs_per_s']:,.0f} jobs/s, p50 {out['latency_ms']['p50']} ms, p99 {out['latency_ms']['p99']} ms; "
            f"events {events_received:,}/{events_expected:,} received, {events_lost:,} lost ({out['loss_pct']}%), "
            f"{complete_runs:,}/{len(completed):,} runs complete; {out['cpu_us_per_run']} us CPU per run; "
            f"Python {out['python']}, pyzmq {out['pyzmq']}, libzmq {out['libzmq']}, PocketFlow {out['pocketflow']}",
            file=sys.stderr,
        )
        return 0
    finally:
        # Make sure every child is gone: terminate, then kill.
        for c in children:
            if c.poll() is None:
                c.terminate()
        for c in children:
            try:
                c.wait(timeout=2)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
        if proxy_control is not None:
            try:
                proxy_control.send(b"TERMINATE", zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        if proxy_thread is not None:
            proxy_thread.join(timeout=2)
        ctx.destroy(linger=0)


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "worker":
        p = argparse.ArgumentParser(prog="pyzmq_pool.py worker")
        p.add_argument("--id", required=True)
        p.add_argument("--jobs", required=True)
        p.add_argument("--results", required=True)
        p.add_argument("--events-in", required=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl-C and reaps us
        return worker_main(p.parse_args(argv[1:]))
    if argv and argv[0] == "subscriber":
        p = argparse.ArgumentParser(prog="pyzmq_pool.py subscriber")
        p.add_argument("--events-out", required=True)
        p.add_argument("--control", required=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return subscriber_main(p.parse_args(argv[1:]))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--window", type=int, default=256, help="jobs kept in flight")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring (not counted)")
    args = p.parse_args(argv)
    if args.workers < 1 or args.window < 1 or args.duration <= 0 or args.warmup < 0:
        p.error("workers and window must be positive, duration > 0, warmup >= 0")
    try:
        return coordinator_main(args)
    except (KeyboardInterrupt, Interrupted) as e:
        print(f"pyzmq_pool: interrupted ({str(e) or 'Ctrl-C'})", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main() or 0)
