"""Burn one CPU while the file named by the first argument exists; idle (polling) otherwise."""

import os
import sys
import time

control = sys.argv[1]
while True:
    if os.path.exists(control):
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            pass
    else:
        time.sleep(0.2)
