#!/usr/bin/env python3
"""A loopback OpenAI-compatible chat-completions server for FlowAgents' tests.

Binds 127.0.0.1 on an ephemeral port, prints the port on stdout, then serves until killed.
POST /v1/chat/completions picks its behaviour from the request's "model":

  normal        streams "Hello from the loopback model." in pieces, then [DONE]
  tool_call     streams two tool calls whose arguments arrive in fragments, finish_reason tool_calls
  echo          streams a JSON summary of the request (roles, tool names, tool_choice, stream flag)
  rate_limit    429 with Retry-After: 1 on the first request of an X-Test-Id, then like normal
  server_error  500 on every request
  unauthorized  401 with an OpenAI-style error body
  cut           streams part of an answer, then closes the connection without [DONE]
  cut_chunked   like cut, over chunked transfer encoding, dropping the connection mid-stream
  malformed     streams a data line that is not JSON
  slow          waits 5 s before answering
  not_streamed  ignores "stream" and answers with one JSON completion holding a tool call
  agent         a tiny tool-using model: without tool results it calls total_sales {"region": "North"};
                with them it answers "North revenue: <revenue with 2 decimals> USD."

GET /stats?id=<X-Test-Id> returns {"requests": n}: how many completions requests that id made.
"""

import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

COUNTS = {}
LOCK = threading.Lock()


def chunk(delta, finish=None):
    return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": "stub",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/stats":
            test_id = parse_qs(url.query).get("id", [""])[0]
            with LOCK:
                n = COUNTS.get(test_id, 0)
            self.send_json(200, {"requests": n})
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        test_id = self.headers.get("X-Test-Id", "")
        with LOCK:
            COUNTS[test_id] = COUNTS.get(test_id, 0) + 1
            count = COUNTS[test_id]
        if not self.path.endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "unknown path " + self.path}})
        if self.headers.get("Authorization") != "Bearer test-key":
            return self.send_json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
        model = body.get("model", "normal")
        if model == "unauthorized":
            return self.send_json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
        if model == "server_error":
            return self.send_json(500, {"error": {"message": "internal failure"}})
        if model == "rate_limit" and count == 1:
            return self.send_json(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})
        if model == "slow":
            time.sleep(5)
        if model in ("normal", "rate_limit", "slow"):
            return self.stream([chunk({"role": "assistant", "content": ""})]
                               + [chunk({"content": t}) for t in ["Hello", " from", " the", " loopback", " model."]]
                               + [chunk({}, "stop")], done=True)
        if model == "echo":
            summary = {
                "roles": [m.get("role") for m in body.get("messages", [])],
                "tools": [t["function"]["name"] for t in body.get("tools", [])],
                "tool_choice": body.get("tool_choice"),
                "stream": body.get("stream"),
                "tool_call_ids": [m.get("tool_call_id") for m in body.get("messages", []) if m.get("role") == "tool"],
            }
            return self.stream([chunk({"content": json.dumps(summary, sort_keys=True)}), chunk({}, "stop")], done=True)
        if model == "tool_call":
            pieces = [
                chunk({"role": "assistant", "tool_calls": [
                    {"index": 0, "id": "call_a", "type": "function", "function": {"name": "total_sales", "arguments": ""}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"region\": "}}]}),
                chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                       "function": {"name": "top_products", "arguments": "{\"limit\""}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": "\"North\"}"}}]}),
                chunk({"tool_calls": [{"index": 1, "function": {"arguments": ": 3}"}}]}),
                chunk({}, "tool_calls"),
            ]
            return self.stream(pieces, done=True)
        if model == "not_streamed":
            return self.send_json(200, {"id": "chatcmpl-test", "object": "chat.completion", "choices": [
                {"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": None, "tool_calls": [
                        {"id": "call_x", "type": "function",
                         "function": {"name": "last_price", "arguments": "{\"symbol\": \"AAPL\"}"}}]}}]})
        if model == "agent":
            tool_messages = [m for m in body.get("messages", []) if m.get("role") == "tool"]
            if not tool_messages and body.get("tool_choice") != "none":
                return self.stream([
                    chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_n", "type": "function",
                                                                "function": {"name": "total_sales", "arguments": ""}}]}),
                    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"region\": \"North\"}"}}]}),
                    chunk({}, "tool_calls")], done=True)
            revenue = json.loads(tool_messages[-1]["content"]).get("revenue", 0) if tool_messages else 0
            words = ["North", " revenue:", " %.2f" % revenue, " USD."]
            return self.stream([chunk({"content": w}) for w in words] + [chunk({}, "stop")], done=True)
        if model == "cut":
            return self.stream([chunk({"content": "The answer is"}), chunk({"content": " forty"})], done=False)
        if model == "cut_chunked":
            return self.stream([chunk({"content": "The answer is"}), chunk({"content": " forty"})], done=False, chunked=True)
        if model == "malformed":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"data: {this is not json\n\n")
            self.wfile.flush()
            return
        self.send_json(400, {"error": {"message": "unknown scenario " + model}})

    def send_json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def stream(self, chunks, done, chunked=False):
        if chunked:
            self.protocol_version = "HTTP/1.1"
            self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for c in chunks:
            payload = ("data: " + json.dumps(c) + "\n\n").encode()
            if chunked:
                payload = b"%x\r\n%s\r\n" % (len(payload), payload)
            self.wfile.write(payload)
            self.wfile.flush()
            time.sleep(0.01)
        if done:
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        # Without [DONE] the connection simply closes (and a chunked body lacks its last chunk).


def main():
    # A parent may spawn us with signals blocked; make SIGTERM end us at once.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
