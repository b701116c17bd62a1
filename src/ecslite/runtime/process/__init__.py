"""The process runtime: tasks as real processes in their own namespaces, owned by a per-task shim.

- :mod:`.runtime` — :class:`~.runtime.ProcessRuntime`, the :class:`~ecslite.runtime.base.Runtime`.
- :mod:`.task_state` — what the runtime keeps per task; :mod:`.launch` — a container's launch spec;
  :mod:`.supervision` — shims, exits and a shim's death, and re-attaching after a restart.
- :mod:`.shim_build` / ``shim/ecslite-shim.c`` — the per-task shim, compiled on first use.
- :mod:`.shim_client` — the shim's launch, line protocol, spec and record files.
- :mod:`.task_dir` — what the runtime records in a task's directory and reads back after a restart.
- :mod:`.cgroups` — task and container cgroups (v1 and v2), limits, stats, OOM evidence.
- :mod:`.exec` — commands inside a running container (health checks, ECS Exec).
- :mod:`.network` — the task's network namespace on the host bridge; :mod:`.nat` — its nftables table.
- :mod:`.images` — what an image name runs as (built-in images, the image map, the OCI store).
"""
