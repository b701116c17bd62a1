"""Server settings: command-line options, each also readable from an ``ECSLITE_*`` variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 4577
DEFAULT_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}"
RUNTIMES = ("auto", "process", "docker", "fake")


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ecslite"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=default_data_dir)
    # Keep the state in memory instead of data_dir/state.db (the data dir still holds pid and log).
    ephemeral: bool = False
    runtime: str = "auto"
    account_id: str = "000000000000"
    region: str = "us-east-1"
    durability: str = "normal"  # "full" also fsyncs every commit (survives power loss, not just crashes)
    log_level: str = "warning"
    # Create the `default` cluster on first use of a partition, as in an account that opened the console.
    create_default_cluster: bool = True
    # How long stopped tasks stay visible (ECS: at least one hour).
    stopped_task_retention_seconds: float = 3600.0
    # The longest pause between launches of a service whose tasks keep failing to start (ECS: 15 minutes).
    service_throttle_max_seconds: float = 900.0
    # How long a task waits in PROVISIONING for managed-scaling capacity before it stops (ECS: 10 to 30 minutes).
    capacity_wait_timeout_seconds: float = 1800.0
    # Image name → local directory and defaults (JSON, or TOML with an [images] table).
    image_map: Path | None = None
    # The host bridge every task network hangs off, and the default VPC carved into subnets per zone.
    # Two servers on one machine need different values for both.
    bridge: str = "ecslite0"
    vpc_cidr: str = "172.31.0.0/16"
    # Address host ports of bridge-mode containers are published on.
    publish_address: str = "127.0.0.1"
    # Host OTLP receivers on 127.0.0.1 (spec/telemetry.md §0, §1); 0 turns one off. The command line
    # defaults to 4317/4318; servers built in-process (tests, harnesses) take no well-known port.
    otlp_grpc_port: int = 0
    otlp_http_port: int = 0
    # Host Fluent Forward receiver on 127.0.0.1 (§4); 0 turns it off. The command line defaults to 24224.
    forward_port: int = 0
    # The agent endpoint's own port (process runtime), which 169.254.170.2:80 is mapped to as on ECS;
    # when taken (another server), or 0, any free port.
    agent_port: int = 51679
    # Implicit OTLP receivers on localhost:4317/4318 inside every task namespace (§0, Beyond ECS).
    implicit_receivers: bool = True
    # Telemetry store: retention per signal in days and the total size cap (§8.2).
    telemetry_max_bytes: int = 2 * 1024**3
    telemetry_retention_days: tuple[float, float, float] = (3.0, 3.0, 15.0)  # traces, logs, metrics
    # Ingest back-pressure (§1.4): records accepted and not yet stored, bodies waiting to be parsed.
    telemetry_max_pending: int = 100_000
    telemetry_max_queue_bytes: int = 256 * 1024**2
    # SDK resource attributes win over ecslite's unless this is set (§2.1).
    telemetry_override_resource: bool = False
    # Exporters (§6): every record the telemetry store accepts also goes to each of these URLs
    # (OTLP/HTTP base URL, Loki push URL, remote-write URL); ``export_buffer`` keeps their queues
    # in SQLite files under ``<data dir>/export`` so they survive a restart (§6.1).
    export_otlp: tuple[str, ...] = ()
    export_loki: tuple[str, ...] = ()
    export_remote_write: tuple[str, ...] = ()
    export_buffer: bool = False
    # Container stats sampling for the §9.1 metrics, and Prometheus scraping of marked ports.
    runtime_metrics_interval: float = 10.0
    # How long one CloudWatch minute lasts (AWS: 60 s). Shorter values shorten alarm periods and scaling
    # cooldowns in proportion, for local experiments; container stats are then sampled at least five
    # times per period.
    metrics_period: float = 60.0
    scrape_interval: float = 15.0
    # Beyond ECS, opt-in: the task credentials endpoint serves the host's own AWS credentials (botocore's
    # default chain) instead of ecslite's role credentials, for tasks that call a real account (§9.3).
    host_credentials: bool = False

    @property
    def runtime_dir(self) -> Path:
        """Per-task runtime state (shim sockets, container output, exit records); survives restarts."""
        return self.data_dir / "runtime"

    @property
    def state_path(self) -> Path | None:
        return None if self.ephemeral else self.data_dir / "state.db"

    @property
    def telemetry_dir(self) -> Path | None:
        """The telemetry store's segment files (§8.2); ``None`` keeps them in memory."""
        return None if self.ephemeral else self.data_dir / "telemetry"

    @property
    def export_dir(self) -> Path | None:
        """Where persistent export queues live (``None``: in memory)."""
        return self.data_dir / "export" if self.export_buffer and not self.ephemeral else None

    @property
    def s3_dir(self) -> Path:
        """Where S3 objects are files (``<bucket>/<key>``): ``$ECSLITE_S3_DIR``, else ``<data dir>/s3``.
        ECS reads ``environmentFiles`` given as S3 ARNs from the same place."""
        configured = os.environ.get("ECSLITE_S3_DIR")
        return Path(configured) if configured else self.data_dir / "s3"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "server.pid"

    @property
    def info_file(self) -> Path:
        """Where a running server writes its pid and the endpoint it actually bound."""
        return self.data_dir / "server.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"
