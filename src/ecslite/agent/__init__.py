"""What the ECS agent serves a task, per ecslite server: the metadata, credentials and task-protection
endpoint at 169.254.170.2 (:mod:`.listener`) and ECS Exec's data channel (:mod:`.exec_server`)."""
