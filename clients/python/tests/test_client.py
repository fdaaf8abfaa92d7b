"""Tests of flowpool_client (plain unittest).

The sequencer tests need nothing. The pool tests need a running pool whose workers know the flows `agent4`, `sleep`
and `fail` (every FlowPool worker does), given by environment variables:

    FLOWPOOL_TEST_COORDINATOR       the control endpoint, e.g. tcp://127.0.0.1:5570
    FLOWPOOL_TEST_KEY_FILE          for a pool with keys: a client key (NAME.key_secret) for every namespace (*)
    FLOWPOOL_TEST_COORDINATOR_KEY   for a pool with keys: coordinator.key
    FLOWPOOL_TEST_WORKER_KEY_FILE   optional, for a pool with keys: a worker key (its requests are forbidden)
    FLOWPOOL_TEST_ALLOW_FILE        optional, for a pool with keys: the coordinator's allow-list (a test rewrites
                                    and restores it, each time with SIGHUP to FLOWPOOL_TEST_COORDINATOR_PID)
    FLOWPOOL_TEST_COORDINATOR_PID   with FLOWPOOL_TEST_ALLOW_FILE: the coordinator's process id
    FLOWPOOL_TEST_AGENT4_ANSWER     optional: agent4's answer (Agent4.expectedAnswer)
    FLOWPOOL_TEST_EXPECT_GAPS       1: the coordinator runs with a small --subscriber-hwm (at most 16), so a reader
                                    that does not read must miss events (and repair them)

    PYTHONPATH=clients/python FLOWPOOL_TEST_COORDINATOR=tcp://127.0.0.1:5570 \\
        python3 -m unittest discover -s clients/python/tests -v

Swift's PythonClientTests runs them against real pools, with and without keys. Every wait has a deadline.
"""

import os
import signal
import time
import unittest
import uuid

import zmq
import zmq.auth

from flowpool_client import Client, PoolError, Sequencer

CONTROL = os.environ.get("FLOWPOOL_TEST_COORDINATOR")
KEY_FILE = os.environ.get("FLOWPOOL_TEST_KEY_FILE")
COORDINATOR_KEY = os.environ.get("FLOWPOOL_TEST_COORDINATOR_KEY")
WORKER_KEY_FILE = os.environ.get("FLOWPOOL_TEST_WORKER_KEY_FILE")
AGENT4_ANSWER = os.environ.get("FLOWPOOL_TEST_AGENT4_ANSWER") or "".join(f"tok{i} " for i in range(8))
EXPECT_GAPS = os.environ.get("FLOWPOOL_TEST_EXPECT_GAPS") == "1"
ALLOW_FILE = os.environ.get("FLOWPOOL_TEST_ALLOW_FILE")
COORDINATOR_PID = os.environ.get("FLOWPOOL_TEST_COORDINATOR_PID")
AGENT4_EVENTS = 13
TERMINAL = ("final", "error", "cancelled")
NO_POOL = "FLOWPOOL_TEST_COORDINATOR is not set: no pool to test against"


def connect(**options):
    return Client(CONTROL, key_file=KEY_FILE, coordinator_key=COORDINATOR_KEY, timeout=10, **options)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def read_until(stream, done, seconds=30, what="events"):
    """Reads events into {run: [event, …]} until ``done(by_run)`` holds; fails after ``seconds``."""
    by_run = {}
    deadline = time.monotonic() + seconds
    while not done(by_run):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; got {summary(by_run)}; stats {stream.stats}")
        e = stream.next(0.2)
        if e is not None:
            by_run.setdefault(e["run"], []).append(e)
    return by_run


def terminals(by_run):
    return sum(1 for events in by_run.values() for e in events if e["type"] in TERMINAL)


def ended(by_run, run):
    return any(e["type"] in TERMINAL for e in by_run.get(run, []))


def agent4_runs(ns, numbers):
    return [{"flow": "agent4", "namespace": ns, "input": {"question": f"q{i}"}} for i in numbers]


def summary(by_run):
    return {run: [(e["attempt"], e["seq"], e["type"]) for e in events] for run, events in by_run.items()}


def event(run, seq, kind="chunk", attempt=1, ns="ns"):
    return {"v": 1, "ns": ns, "run": run, "attempt": attempt, "seq": seq, "type": kind, "node": "n", "ts": 0.0}


class SequencerTests(unittest.TestCase):
    """Per-run order and gap repair (docs/PROTOCOL.md, "Joining without a gap"), with a fake replay."""

    def setUp(self):
        self.stored = {}  # (run, attempt) -> [events]
        self.asked = []
        self.sequencer = Sequencer(self.fetch)

    def store(self, run, n, attempt=1, last="final"):
        self.stored[(run, attempt)] = [event(run, s, last if s == n else "chunk", attempt) for s in range(1, n + 1)]

    def fetch(self, ranges):
        self.asked.append(ranges)
        out = []
        for r in ranges:
            for (run, attempt), events in self.stored.items():
                if run != r["run"] or ("attempt" in r and r["attempt"] != attempt):
                    continue
                out += [e for e in events if r["from_seq"] <= e["seq"] <= r.get("to_seq", e["seq"])]
        return out

    def seqs(self, events):
        return [(e["run"], e["attempt"], e["seq"]) for e in events]

    def test_in_order_duplicates_and_stale_attempts(self):
        s = self.sequencer
        self.assertEqual(len(s.live(event("a", 1, attempt=2))), 1)
        self.assertEqual(s.live(event("a", 1, attempt=2)), [], "a duplicate is dropped")
        self.assertEqual(s.live(event("a", 5, attempt=1)), [], "an older attempt's event is dropped")
        self.assertEqual(len(s.live(event("a", 2, "final", attempt=2))), 1)
        self.assertEqual(s.live(event("a", 3, attempt=2)), [], "nothing after the terminal event")
        self.assertEqual((s.stats["duplicates"], s.stats["stale"], s.stats["gaps"]), (2, 1, 0))
        self.assertEqual(self.asked, [])

    def test_a_gap_is_fetched_before_the_event_that_shows_it(self):
        self.store("a", 6)
        s = self.sequencer
        out = s.live(event("a", 1)) + s.live(event("a", 4)) + s.live(event("a", 3)) + s.live(event("a", 5))
        self.assertEqual(self.seqs(out), [("a", 1, s) for s in range(1, 6)])
        self.assertEqual(self.asked, [[{"ns": "ns", "run": "a", "attempt": 1, "from_seq": 2, "to_seq": 3}]])
        self.assertEqual((s.stats["gaps"], s.stats["repaired"], s.stats["lost"], s.stats["duplicates"]), (2, 2, 0, 1))

    def test_a_run_first_seen_late_gets_its_beginning(self):
        self.store("b", 4)
        out = self.sequencer.live(event("b", 3))
        self.assertEqual([e["seq"] for e in out], [1, 2, 3])

    def test_a_failed_repair_counts_the_gap_lost(self):
        out = self.sequencer.live(event("c", 1)) + self.sequencer.live(event("c", 4))
        self.assertEqual([e["seq"] for e in out], [1, 4])
        self.assertEqual(self.sequencer.stats["lost"], 2)

    def test_a_new_attempt_counts_from_one(self):
        self.store("d", 3, attempt=2)
        s = self.sequencer
        out = s.live(event("d", 1)) + s.live(event("d", 2)) + s.live(event("d", 3, "final", attempt=2))
        self.assertEqual(self.seqs(out), [("d", 1, 1), ("d", 1, 2), ("d", 2, 1), ("d", 2, 2), ("d", 2, 3)])

    def test_a_quiet_run_gets_its_tail_after_1_2_4_quiet_periods(self):
        self.store("e", 5)
        s = self.sequencer
        s.live(event("e", 1))
        s.live(event("e", 2))
        asked = [s.tail_checks() for _ in range(9)]
        # The first check notes where the run is; then quiet periods 1, 2, 4 and 8 ask.
        tail = [{"ns": "ns", "run": "e", "from_seq": 3}]
        self.assertEqual(asked, [[], tail, tail, [], tail, [], [], [], tail])
        out = s.tail_replayed(self.fetch(tail))
        self.assertEqual([(e["seq"], e["type"]) for e in out], [(3, "chunk"), (4, "chunk"), (5, "final")])
        self.assertEqual(s.tail_checks(), [], "a finished run is not checked")
        self.assertEqual((s.stats["gaps"], s.stats["repaired"], s.stats["lost"]), (3, 3, 0))

    def test_a_tail_of_a_newer_attempt_is_completed_from_its_start(self):
        self.store("f", 2)
        self.store("f", 4, attempt=2)
        s = self.sequencer
        s.live(event("f", 1))
        s.live(event("f", 2))
        for _ in range(2):
            ranges = s.tail_checks()
        out = s.tail_replayed(self.fetch(ranges))
        self.assertEqual(self.seqs(out), [("f", 2, 1), ("f", 2, 2), ("f", 2, 3), ("f", 2, 4)])

    def test_history_then_live_without_duplicates(self):
        s = self.sequencer
        history = s.history([event("g", 1), event("g", 2)])
        live = s.live(event("g", 2)) + s.live(event("g", 3, "final"))
        self.assertEqual([e["seq"] for e in history + live], [1, 2, 3])
        self.assertEqual(s.stats["from_history"], 2)


@unittest.skipUnless(CONTROL, NO_POOL)
class PoolTests(unittest.TestCase):
    """Against a real pool."""

    @classmethod
    def setUpClass(cls):
        cls.pool = connect()

    @classmethod
    def tearDownClass(cls):
        cls.pool.close()

    def assertComplete(self, run, events, count=None):
        """One terminal event, last; the last attempt's events count 1, 2, 3, … without gap or duplicate."""
        kinds = [e["type"] for e in events]
        self.assertEqual(sum(k in TERMINAL for k in kinds), 1, f"{run}: {kinds}")
        self.assertIn(kinds[-1], TERMINAL, run)
        last = [e["seq"] for e in events if e["attempt"] == events[-1]["attempt"]]
        self.assertEqual(last, list(range(1, len(last) + 1)), run)
        if count is not None:
            self.assertEqual(len(last), count, run)

    def test_agent4_result_is_the_flows_answer(self):
        ns = unique("py-result")
        submission = self.pool.submit("agent4", ns, {"question": "hi"})
        self.assertEqual(submission.namespace, ns)
        self.assertTrue(submission.run_id)
        r = self.pool.result(submission, timeout=30)
        self.assertEqual((r.status, r.answer, r.error, r.attempts), ("completed", AGENT4_ANSWER, None, 1))
        kept = self.pool.get_result(ns, submission.run_id)
        self.assertEqual((kept.status, kept.answer, kept.run_id), ("completed", AGENT4_ANSWER, submission.run_id))
        self.assertEqual(self.pool.run("agent4", ns, {"question": "again"}, timeout=30), AGENT4_ANSWER)

    def test_a_named_run_is_submitted_once(self):
        ns, run = unique("py-named"), unique("run")
        first = self.pool.submit("agent4", ns, {"question": "q"}, run_id=run, deadline_ms=30_000, max_attempts=2)
        self.assertEqual((first.run_id, first.existing), (run, False))
        self.assertEqual(self.pool.result(first, timeout=30).answer, AGENT4_ANSWER)
        again = self.pool.submit("agent4", ns, {"question": "q"}, run_id=run)
        self.assertEqual((again.run_id, again.job, again.existing), (run, first.job, True))
        self.assertEqual(self.pool.result(again, timeout=30).answer, AGENT4_ANSWER)

    def test_submit_batch(self):
        ns = unique("py-batch")
        submissions = self.pool.submit_batch(agent4_runs(ns, range(5)))
        self.assertEqual(len(submissions), 5)
        for s in submissions:
            self.assertNotIsInstance(s, PoolError)
            self.assertEqual(self.pool.result(s, timeout=30).answer, AGENT4_ANSWER)

    def test_a_failed_run(self):
        ns = unique("py-fail")
        with self.assertRaises(PoolError) as caught:
            self.pool.run("fail", ns, {"message": "on purpose"}, timeout=30)
        self.assertEqual(caught.exception.code, "flow_failed")
        self.assertEqual(caught.exception.result.status, "failed")
        self.assertIn("on purpose", caught.exception.result.error_message)

    def test_get_result_of_an_unknown_run_is_not_found(self):
        with self.assertRaises(PoolError) as caught:
            self.pool.get_result(unique("py-none"), "no-such-run")
        self.assertEqual(caught.exception.code, "not_found")
        self.assertTrue(caught.exception.message)

    def test_status(self):
        body = self.pool.status()
        self.assertGreaterEqual(len(body.get("workers") or []), 1, body)
        self.assertIn("jobs_accepted", body.get("counters") or {})

    def test_cancel_a_running_sleep(self):
        ns, run = unique("py-cancel"), unique("nap")
        with self.pool.events(f"{ns}/{run}") as stream:
            submission = self.pool.submit("sleep", ns, {"ms": 2000}, run_id=run)
            read_until(stream, lambda by_run: by_run.get(run), what="the sleep's first progress event")
            # It ran (a progress event came): the coordinator has it running, or dispatched if the worker's ack
            # is still on its way.
            self.assertIn(self.pool.cancel(ns, run), ("running", "dispatched"))
            r = self.pool.result(submission, timeout=30)
            self.assertEqual((r.status, r.error_code), ("cancelled", "cancelled"))
            with self.assertRaises(PoolError) as caught:
                self.pool.cancel(submission)
            self.assertEqual(caught.exception.code, "already_finished")
            by_run = read_until(stream, lambda by_run: terminals(by_run) >= 1, what="the cancelled event")
        self.assertEqual(by_run[run][-1]["type"], "cancelled")
        self.assertEqual(by_run[run][-1]["content"]["code"], "cancelled")
        with self.assertRaises(PoolError) as caught:
            self.pool.cancel(ns, "no-such-run")
        self.assertEqual(caught.exception.code, "not_found")

    def test_events_live_per_run_in_order(self):
        for batched in (True, False):
            ns = unique("py-live")
            with self.subTest(batched=batched), self.pool.events(ns, batched=batched) as stream:
                submissions = [self.pool.submit("agent4", ns, {"question": f"q{i}"}) for i in range(3)]
                runs = {s.run_id for s in submissions}
                by_run = read_until(stream, lambda by_run: all(ended(by_run, r) for r in runs), what="3 runs")
                for run in runs:
                    self.assertComplete(run, by_run[run], AGENT4_EVENTS)
                    self.assertEqual(by_run[run][-1]["type"], "final")
                    self.assertEqual(by_run[run][-1]["content"]["answer"], AGENT4_ANSWER)
                    self.assertTrue(all(e["ns"] == ns for e in by_run[run]))
                # What the coordinator stored is what was delivered.
                stored = {}
                for e in self.pool.replay(ranges=[{"ns": ns, "run": run, "from_seq": 1} for run in runs]):
                    stored.setdefault(e["run"], []).append(e)
                self.assertEqual(summary({r: by_run[r] for r in runs}), summary(stored))

    def test_from_start_history_then_live(self):
        ns = unique("py-history")
        finished = [self.pool.submit("agent4", ns, {"question": f"q{i}"}) for i in range(3)]
        for s in finished:
            self.assertEqual(self.pool.result(s, timeout=30).answer, AGENT4_ANSWER)
        with self.pool.events(ns, from_start=True) as stream:
            by_run = read_until(stream, lambda by_run: terminals(by_run) >= 3, what="the history of 3 runs")
            self.assertEqual(set(by_run), {s.run_id for s in finished})
            for run, events in by_run.items():
                self.assertComplete(run, events, AGENT4_EVENTS)
            later = self.pool.submit("agent4", ns, {"question": "later"})
            more = read_until(stream, lambda more: terminals(more) >= 1, what="a live run after the history")
        self.assertEqual(set(more), {later.run_id}, "nothing of the history comes twice")
        self.assertComplete(later.run_id, more[later.run_id], AGENT4_EVENTS)
        self.assertEqual(stream.stats["from_history"], 3 * AGENT4_EVENTS)

    def test_a_slow_reader_gets_every_run_it_saw_complete(self):
        """A reader that reads nothing while 300 runs go through loses most of their events at the coordinator
        (with a small --subscriber-hwm) and in its own buffer: gaps are fetched with replay, and runs whose last
        events were dropped are completed by the quiet-period tail check."""
        hwm = (self.pool.status().get("limits") or {}).get("subscriber_hwm") or 0
        if EXPECT_GAPS:
            self.assertLessEqual(hwm, 16, "FLOWPOOL_TEST_EXPECT_GAPS needs --subscriber-hwm 16 or less")
        for batched in (False, True):
            ns = unique("py-slow")
            # A small receive buffer: what the reader does not read piles up at the coordinator.
            small = dict(buffer=10, socket_options={zmq.RCVBUF: 4096})
            with self.subTest(batched=batched), self.pool.events(ns, batched=batched, **small) as stream:
                runs = 300
                submissions = []
                for i in range(0, runs, 100):
                    submissions += self.pool.submit_batch(agent4_runs(ns, range(i, i + 100)))
                for s in submissions:
                    self.assertEqual(self.pool.result(s, timeout=60).answer, AGENT4_ANSWER)
                # Every run seen is complete, and three tail-check rounds passed since then with nothing new: a
                # round runs after everything received before it, and a quiet run's tail is asked for in the
                # first two rounds.
                state = {"since": None, "count": -1}

                def settled(by_run):
                    count = sum(map(len, by_run.values()))
                    complete = by_run and all(events[-1]["type"] in TERMINAL for events in by_run.values())
                    if not complete or count != state["count"]:
                        state["since"], state["count"] = None, count
                        return False
                    if state["since"] is None:
                        state["since"] = stream.stats["tail_rounds"]
                    return stream.stats["tail_rounds"] >= state["since"] + 3

                by_run = read_until(stream, settled, seconds=60, what="every run seen to be complete")
                for run, events in by_run.items():
                    self.assertComplete(run, events, AGENT4_EVENTS)
                stats = stream.stats
                self.assertEqual(stats["lost"], 0, stats)
                self.assertEqual(stats["delivered"], sum(map(len, by_run.values())), stats)
                if EXPECT_GAPS and not batched:
                    self.assertGreater(stats["gaps"], 0, f"the reader should have missed events (hwm {hwm}): {stats}")
                    self.assertEqual(stats["repaired"], stats["gaps"], stats)


@unittest.skipUnless(CONTROL and KEY_FILE, "FLOWPOOL_TEST_KEY_FILE is not set: the pool has no keys")
class KeyTests(unittest.TestCase):
    """Against a real pool with CURVE keys (docs/PROTOCOL.md, "Security")."""

    def test_the_client_key_runs_a_flow(self):
        with connect() as pool:
            ns = unique("py-keys")
            with pool.events(ns) as stream:
                self.assertEqual(pool.run("agent4", ns, {"question": "with keys"}, timeout=30), AGENT4_ANSWER)
                by_run = read_until(stream, lambda by_run: terminals(by_run) >= 1)
            self.assertEqual([e["seq"] for e in next(iter(by_run.values()))], list(range(1, AGENT4_EVENTS + 1)))

    def test_no_keys_fails_with_a_reason(self):
        started = time.monotonic()
        with self.assertRaises(PoolError) as caught:
            Client(CONTROL, timeout=2)
        self.assertEqual(caught.exception.code, "timeout")
        self.assertIn("key_file", caught.exception.message)
        self.assertLess(time.monotonic() - started, 10)

    def test_a_wrong_coordinator_key_fails_with_a_reason(self):
        own_public, _ = zmq.auth.load_certificate(KEY_FILE)
        with self.assertRaises(PoolError) as caught:
            Client(CONTROL, key_file=KEY_FILE, coordinator_key=own_public.decode(), timeout=2)
        self.assertEqual(caught.exception.code, "timeout")
        self.assertIn("coordinator_key", caught.exception.message)

    def test_half_a_key_set_is_refused(self):
        with self.assertRaises(ValueError):
            Client(CONTROL, key_file=KEY_FILE, timeout=2)

    @unittest.skipUnless(
        ALLOW_FILE and COORDINATOR_PID, "FLOWPOOL_TEST_ALLOW_FILE or FLOWPOOL_TEST_COORDINATOR_PID is not set"
    )
    def test_a_subscription_refused_then_allowed_again_follows_again(self):
        public, _ = zmq.auth.load_certificate(KEY_FILE)
        with open(ALLOW_FILE) as f:
            listed = f.read()
        without = "".join(line for line in listed.splitlines(keepends=True) if public.decode() not in line)
        self.assertNotEqual(without, listed, "the client key is in the allow-list")

        def reload(text):
            with open(ALLOW_FILE + ".new", "w") as f:
                f.write(text)
            os.replace(ALLOW_FILE + ".new", ALLOW_FILE)
            os.kill(int(COORDINATOR_PID), signal.SIGHUP)

        def until(stream, what, condition, seconds=30):
            deadline = time.monotonic() + seconds
            while not condition():
                self.assertLess(time.monotonic(), deadline, f"no {what} within {seconds} s: {stream.stats}")
                stream.next(0.1)

        with connect() as pool:
            ns = unique("py-back")
            with pool.events(ns) as stream:
                try:
                    # Out of the list: the coordinator makes the subscription connect again, and refuses it.
                    reload(without)
                    until(stream, "refusal", lambda: stream.stats["refused"] >= 1)
                finally:
                    reload(listed)
                # Back in the list: the stream connects again by itself and follows its namespace again.
                until(stream, "return", lambda: stream.stats["accepted_again"] >= 1)
                self.assertEqual(pool.run("agent4", ns, {"question": "back"}, timeout=30), AGENT4_ANSWER)
                by_run = read_until(stream, lambda by_run: terminals(by_run) >= 1)
            self.assertEqual([e["seq"] for e in next(iter(by_run.values()))], list(range(1, AGENT4_EVENTS + 1)))

    @unittest.skipUnless(WORKER_KEY_FILE, "FLOWPOOL_TEST_WORKER_KEY_FILE is not set")
    def test_a_worker_key_is_forbidden_to_submit(self):
        with Client(CONTROL, key_file=WORKER_KEY_FILE, coordinator_key=COORDINATOR_KEY, timeout=10) as pool:
            for call in (lambda: pool.submit("agent4", unique("py-forbidden"), {"question": "q"}), pool.status):
                with self.assertRaises(PoolError) as caught:
                    call()
                self.assertEqual(caught.exception.code, "forbidden")
                self.assertIn("may not", caught.exception.message)


if __name__ == "__main__":
    unittest.main()
