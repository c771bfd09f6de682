#!/usr/bin/python3
"""A stand-in interface service for the reports scenario: /health reports a backlog of 5000 inbound records, the
statistics a last exchange cycle a moment ago (the inspection must find the backlog 异常)."""

import datetime
import json
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0).isoformat()
        bodies = {
            "/health": {
                "status": "UP",
                "version": "1.2.0",
                "checks": {"interface_data": "UP", "app": "UP"},
                "backlog": 5000,
            },
            "/api/exchange/stats": {"backlog": 5000, "worker": {"cycles": 3, "last_cycle_at": now, "last_error": None}},
        }
        body = bodies.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body or {"error": "not found"}).encode())

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", 8081), Handler).serve_forever()
