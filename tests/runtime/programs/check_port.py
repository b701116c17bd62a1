"""Health check: exit 0 when something listens on 127.0.0.1:PORT, else 1."""

import socket
import sys

try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError as error:
    print(f"port {sys.argv[1]}: {error}", flush=True)
    sys.exit(1)
