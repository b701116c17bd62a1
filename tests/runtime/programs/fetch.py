"""Fetch a URL until it answers 200, print the body, exit 0; exit 1 if it never does.

python3 fetch.py URL [--timeout SECONDS]
"""

import sys
import time
import urllib.request

url = sys.argv[1]
timeout = float(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 20.0
deadline = time.monotonic() + timeout
last = "no attempt"
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            print(response.read().decode(), flush=True)
            sys.exit(0)
    except OSError as error:
        last = str(error)
        time.sleep(0.1)
print(f"gave up on {url}: {last}", file=sys.stderr, flush=True)
sys.exit(1)
