"""Push log lines to a Loki push URL as JSON (as a router's loki output would), print the answer's
status, then stay up until SIGTERM; exit 1 if the URL never answers.

python3 loki_push.py URL LINES [--timeout SECONDS]
"""

import json
import signal
import sys
import time
import urllib.error
import urllib.request

url, lines = sys.argv[1], int(sys.argv[2])
timeout = float(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 20.0
now = time.time_ns()
values = [[str(now + i), f"line {i}"] for i in range(lines)]
body = json.dumps({"streams": [{"stream": {"job": "loki-push"}, "values": values}]}).encode()
request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
deadline = time.monotonic() + timeout
last = "no attempt"
while True:
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            print(f"pushed {lines}: {response.status}", flush=True)
            break
    except urllib.error.HTTPError as error:
        print(f"refused: {error.code} {error.read().decode(errors='replace')}", flush=True)
        sys.exit(1)
    except OSError as error:
        last = str(error)
    if time.monotonic() > deadline:
        print(f"gave up on {url}: {last}", file=sys.stderr, flush=True)
        sys.exit(1)
    time.sleep(0.1)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(3600)
