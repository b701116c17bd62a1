"""Ignore SIGTERM and run until killed (SIGKILL → exit 137)."""

import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring SIGTERM", flush=True)
while True:
    time.sleep(3600)
