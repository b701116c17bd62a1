"""loadgen (container ``loadgen``, ``ho11y-svc``): a ho11y-like synthetic signal generator on aiohttp.web,
port 8765 (spec/otel-demo.md §3)."""
