"""HTTP server for the runtime tests: tells what the process sees, stops promptly on SIGTERM.

    python3 serve.py PORT [PORT...] [--delay SECONDS]

Any GET answers JSON: pid, uid/gid/groups, cwd, hostname, environment, open-file limits, whether
the root filesystem is read-only, the time the process started and the time it began to listen.
``--delay`` waits before listening (a dependency that takes a while to become healthy).
"""

import json
import os
import resource
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()


def info(listening_at: float) -> dict[str, object]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": sorted(os.getgroups()),
        "cwd": os.getcwd(),
        "hostname": socket.gethostname(),
        "environment": dict(os.environ),
        "nofile": [soft, hard],
        "root_readonly": bool(os.statvfs("/").f_flag & os.ST_RDONLY),
        "started": STARTED,
        "listening": listening_at,
    }


def main() -> None:
    args = sys.argv[1:]
    delay = 0.0
    if "--delay" in args:
        at = args.index("--delay")
        delay = float(args[at + 1])
        del args[at : at + 2]
    ports = [int(arg) for arg in args]
    time.sleep(delay)
    listening_at = time.time()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(info(listening_at)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            print("request", self.path, flush=True)

    servers = [ThreadingHTTPServer(("0.0.0.0", port), Handler) for port in ports]

    def stop(signum: int, frame: object) -> None:
        print("stopping on SIGTERM", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening on {', '.join(map(str, ports))}", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
