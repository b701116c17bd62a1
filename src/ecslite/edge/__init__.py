"""The HTTP edge: one ASGI app for every AWS API, ecslite's own API and the UI."""
