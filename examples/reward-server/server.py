#!/usr/bin/env python3
"""A toy reward service speaking OpenRLHF's remote reward-model protocol.

POST {"query": [prompt+response, ...], "prompts": [prompt, ...]} to any path;
the answer is {"rewards": [...]}, one float per query. This one rewards the
letter "w" in the response and charges a little per character, so a policy
learns to say "w" and to stop. Replace score() with your model.

    python3 examples/reward-server/server.py --port 5000
"""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def score(prompt: str, response: str) -> float:
    return response.count("w") - 0.05 * len(response)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            queries, prompts = body["query"], body["prompts"]
            if len(queries) != len(prompts):
                raise ValueError("query and prompts differ in length")
            rewards = [score(p, q[len(p):] if q.startswith(p) else q) for q, p in zip(queries, prompts)]
        except (ValueError, KeyError, TypeError) as e:
            self.send_error(400, str(e))
            return
        out = json.dumps({"rewards": rewards}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5000)
    a = ap.parse_args()
    print(f"reward service on http://{a.host}:{a.port}/get_reward", flush=True)
    ThreadingHTTPServer((a.host, a.port), Handler).serve_forever()
