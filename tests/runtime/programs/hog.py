"""Allocate and touch memory without end, until the memory limit's OOM killer ends it."""

import time

chunks = []
while True:
    chunk = bytearray(8 * 1024 * 1024)
    for offset in range(0, len(chunk), 4096):
        chunk[offset] = 1
    chunks.append(chunk)
    print(f"holding {len(chunks) * 8} MiB", flush=True)
    time.sleep(0.01)
