"""Burn one CPU while the file named by the first argument exists; idle (polling) otherwise. Stops at
once on SIGTERM (as PID 1 without a handler it would wait out the task's 30 s stop timeout)."""

import os
import signal
import sys
import time

signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
control = sys.argv[1]
while True:
    if os.path.exists(control):
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            pass
    else:
        time.sleep(0.2)
