"""Exit with a code after a while, optionally once something listens on a local port.

python3 exit_after.py SECONDS CODE [--when-up PORT]
"""

import socket
import sys
import time

if "--when-up" in sys.argv:
    port = int(sys.argv[sys.argv.index("--when-up") + 1])
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
time.sleep(float(sys.argv[1]))
print(f"exiting with {sys.argv[2]}", flush=True)
sys.exit(int(sys.argv[2]))
