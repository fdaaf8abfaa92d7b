"""python3 -m flowpool_client: submit runs, follow events, ask for results and status from a shell.

    python3 -m flowpool_client submit agent4 sales_agent '{"question": "hi"}'
    python3 -m flowpool_client follow sales_agent --from-start
    python3 -m flowpool_client result sales_agent RUN_ID
    python3 -m flowpool_client cancel sales_agent RUN_ID
    python3 -m flowpool_client status

The coordinator and keys come from --coordinator, --key-file and --coordinator-key, or from FLOWPOOL_COORDINATOR,
FLOWPOOL_KEY_FILE and FLOWPOOL_COORDINATOR_KEY. Output is JSON, one object a line. Exit status: 0 done (a
submitted run completed), 1 the run did not complete or the coordinator refused, 2 bad arguments.
"""

import argparse
import json
import os
import sys

import zmq

from . import Client, PoolError


def _print(obj):
    print(json.dumps(obj, separators=(",", ":"), ensure_ascii=False), flush=True)


def _result_line(r):
    line = {"ns": r.namespace, "run": r.run_id, "status": r.status, "attempts": r.attempts}
    if r.ok:
        line["result"] = r.answer
    else:
        line["error"] = r.error
    return line


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m flowpool_client", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    env = os.environ.get
    parser.add_argument(
        "--coordinator",
        "-c",
        default=env("FLOWPOOL_COORDINATOR", "127.0.0.1:5570"),
        help="host[:port] of the control endpoint (default 127.0.0.1:5570)",
    )
    parser.add_argument(
        "--key-file", default=env("FLOWPOOL_KEY_FILE"), help="this client's NAME.key_secret, for a pool with keys"
    )
    parser.add_argument(
        "--coordinator-key",
        default=env("FLOWPOOL_COORDINATOR_KEY"),
        help="coordinator.key, or its 40-character public key",
    )
    parser.add_argument(
        "--timeout", type=float, default=10, help="seconds to wait for the welcome and each reply (default 10)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    submit = commands.add_parser("submit", help="submit a run and print its result")
    submit.add_argument("flow")
    submit.add_argument("namespace")
    submit.add_argument("input", nargs="?", default="{}", help="the flow's input as JSON (default {})")
    submit.add_argument("--run-id")
    submit.add_argument("--deadline-ms", type=int)
    submit.add_argument("--max-attempts", type=int)
    submit.add_argument("--no-wait", action="store_true", help="print the submission, not the result")
    submit.add_argument("--wait", type=float, default=None, help="seconds to wait for the result (default: no limit)")

    follow = commands.add_parser("follow", help="print the events of matching runs as they come")
    follow.add_argument("pattern", help="NS, NS/RUN, PREFIX* or *")
    follow.add_argument("--from-start", action="store_true", help="the stored history first, then live events")
    follow.add_argument("--plain", action="store_true", help="one message per event instead of batches")
    follow.add_argument("--runs", type=int, help="stop after this many runs ended")

    result = commands.add_parser("result", help="print the result of a finished run")
    result.add_argument("namespace")
    result.add_argument("run_id")

    cancel = commands.add_parser("cancel", help="cancel a run")
    cancel.add_argument("namespace")
    cancel.add_argument("run_id")

    commands.add_parser("status", help="print the coordinator's status")

    args = parser.parse_args(argv)
    try:
        keys = dict(key_file=args.key_file, coordinator_key=args.coordinator_key)
        with Client(args.coordinator, timeout=args.timeout, **keys) as pool:
            if args.command == "submit":
                try:
                    data = json.loads(args.input)
                except ValueError as error:
                    parser.error(f"input is not JSON: {error}")
                s = pool.submit(
                    args.flow,
                    args.namespace,
                    data,
                    run_id=args.run_id,
                    deadline_ms=args.deadline_ms,
                    max_attempts=args.max_attempts,
                )
                if args.no_wait:
                    _print({"ns": s.namespace, "run": s.run_id, "job": s.job, "existing": s.existing})
                    return 0
                r = pool.result(s, timeout=args.wait)
                _print(_result_line(r))
                return 0 if r.ok else 1
            if args.command == "follow":
                ended = 0
                with pool.events(args.pattern, from_start=args.from_start, batched=not args.plain) as stream:
                    for e in stream:
                        _print(e)
                        if e["type"] in ("final", "error", "cancelled"):
                            ended += 1
                            if args.runs is not None and ended >= args.runs:
                                return 0
                return 0
            if args.command == "result":
                r = pool.get_result(args.namespace, args.run_id)
                _print(_result_line(r))
                return 0 if r.ok else 1
            if args.command == "cancel":
                _print({"ns": args.namespace, "run": args.run_id, "was": pool.cancel(args.namespace, args.run_id)})
                return 0
            if args.command == "status":
                _print(pool.status())
                return 0
    except PoolError as error:
        print(f"flowpool_client: {error.code}: {error.message}", file=sys.stderr)
        return 1
    except (ValueError, OSError, zmq.ZMQError) as error:
        print(f"flowpool_client: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
