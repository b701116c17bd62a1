"""The texts of ECS's task definition errors (spec/ecs.md §2.2–2.9), one constant each.

Texts in the first group were seen verbatim in ECS responses quoted in public issue trackers
(quirks included, such as the ``+`` in the dependsOn text and the missing final periods).
Texts in the second group are **unverified**: ECS's wording is not known, so each is a short,
specific sentence kept here so it can be corrected in one place. ``HINT_*`` sentences are ecslite's
own guidance, appended after ECS's text (spec §1.3 "Beyond ECS").
"""

from __future__ import annotations

# -- verified -------------------------------------------------------------------------------------------

FAMILY_INVALID = "Family contains invalid characters."
CONTAINER_LIST_EMPTY = "Container list cannot be empty."
TOO_MANY_CONTAINERS = "Too many containers."
CONTAINER_NAME_EMPTY = "Container.name should not be null or empty."
CONTAINER_NAME_INVALID = "Container.name contains invalid characters."
CONTAINER_IMAGE_EMPTY = "Container.image should not be null or empty."
CONTAINER_NAMES_NOT_UNIQUE = "Container names must be unique within a Task Definition."
TASK_CPU_INVALID = (
    "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS "
    "Developer Guide."
)
TASK_MEMORY_INVALID = (
    "Invalid 'memory' setting for task. For more information, see the Troubleshooting section of the Amazon ECS "
    "Developer Guide."
)
NO_FARGATE_CONFIGURATION = (
    "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
    "See the Amazon ECS documentation for the valid values."
)
FARGATE_REQUIRES_TASK_CPU = "Fargate requires that 'cpu' be defined at the task level."
FARGATE_ONLY_AWSVPC = "Fargate only supports network mode ‘awsvpc’."
FARGATE_UNSUPPORTED = "Tasks using the Fargate launch type do not support {param}."
FARGATE_AWSLOGS_EXECUTION_ROLE = (
    "Fargate requires task definition to have execution role ARN to support log driver awslogs."
)
SECRETS_EXECUTION_ROLE = (
    "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'"
)
CONTAINER_MEMORY_REQUIRED = (
    "Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."
)
CONTAINER_MEMORY_OVER_TASK = "The 'memory' setting for container '{name}' is greater than for the task."
CONTAINER_CPU_SUM = "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."
CONTAINER_RESERVATION_SUM = (
    "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'."
)
HOST_PORT_MISMATCH = "When networkMode={mode}, the host ports and container ports in port mappings must match."
LINKS_NOT_SUPPORTED = "Links are not supported when networkMode={mode}."
LINKS_CYCLE = "Container links should not have a cycle"
HOSTNAME_AWSVPC = "hostname is not supported on container when networkMode=awsvpc."
HOST_PORT_MAPPED_TWICE = "{protocol} host port '{port}' is mapped multiple times in task."
UNKNOWN_VOLUME = "Unknown volume '{name}'."
DEPENDS_ON_UNKNOWN = "Cannot depend on container + '{target}' because it does not exist"
DEPENDS_ON_ESSENTIAL = "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"
LOG_DRIVER_REQUIRES = "Log driver {driver} requires options: {options}"
LOG_DRIVER_DISALLOWS = "Log driver {driver} disallows options: {options}"
HEALTH_CHECK_ABOVE_MAX = (
    "Health check {field} must be less than or equal to the maximum allowed value {limit} for container '{name}'"
)
UNABLE_TO_DESCRIBE = "Unable to describe task definition."

# -- unverified -----------------------------------------------------------------------------------------

FARGATE_REQUIRES_TASK_MEMORY = "Fargate requires that 'memory' be defined at the task level."
LAUNCH_TYPE_UNSUPPORTED = "Tasks using the {launch_type} launch type do not support {param}."
HEALTH_CHECK_BELOW_MIN = (
    "Health check {field} must be greater than or equal to the minimum allowed value {limit} for container '{name}'"
)
HEALTH_CHECK_COMMAND = (
    "Health check command for container '{name}' must start with CMD (followed by the command and its arguments) "
    "or CMD-SHELL (followed by one command string)."
)
NO_ESSENTIAL_CONTAINER = "A task definition must have at least one essential container."
DEPENDS_ON_CYCLE = "Container dependencies should not have a cycle: {path}."
DEPENDS_ON_HEALTHY_WITHOUT_CHECK = (
    "Container '{name}' depends on container '{target}' with condition HEALTHY, but '{target}' has no healthCheck."
)
CONTAINER_MEMORY_BELOW_RESERVATION = (
    "Invalid setting for container '{name}'. 'memory' must be greater than or equal to 'memoryReservation'."
)
CONTAINER_VALUE_INVALID = "Invalid '{field}' setting for container '{name}'."
CONTAINER_MEMORY_SUM = "The sum of all container 'memory' values cannot be greater than the value of the task 'memory'."
PORT_MAPPINGS_NETWORK_NONE = "Port mappings are not supported when networkMode=none."
PORT_MAPPING_NO_PORT = (
    "Invalid port mapping for container '{name}'. Either 'containerPort' or 'containerPortRange' must be specified."
)
PORT_MAPPING_OUT_OF_RANGE = (
    "Invalid port mapping for container '{name}'. Port {port} is outside the valid range 1-65535."
)
PORT_NAME_INVALID = (
    "Invalid port mapping name '{port_name}' for container '{name}'. A name has up to 64 lowercase letters, numbers, "
    "underscores and hyphens, and cannot start with a hyphen."
)
PORT_NAME_NOT_UNIQUE = (
    "Port mapping names must be unique within a task definition; '{port_name}' is used more than once."
)
PORT_RANGE_INVALID = (
    "Invalid containerPortRange '{range}' for container '{name}'. Use 'start-end' with 1 <= start < end <= 65535."
)
PORT_RANGE_WITH_PORT = (
    "Invalid port mapping for container '{name}'. containerPortRange cannot be combined with containerPort or hostPort."
)
PORT_RANGE_NETWORK_MODE = "containerPortRange is only supported when networkMode is bridge or awsvpc."
PORT_RANGE_TOO_MANY = "Container '{name}' has more than 100 port ranges."
PORT_RANGE_OVERLAP = "Port ranges of container '{name}' overlap: '{first}' and '{second}'."
LINK_UNKNOWN = "Container '{name}' links to container '{target}', which does not exist."
TIMEOUT_OUT_OF_RANGE = (
    "Invalid '{field}' setting for container '{name}'. Tasks using the Fargate launch type accept 2 to 120 seconds."
)
VOLUMES_FROM_UNKNOWN = "Container '{name}' mounts volumes from container '{source}', which does not exist."
VOLUME_NAME_EMPTY = "Volume.name should not be null or empty."
VOLUME_NAMES_NOT_UNIQUE = "Volume names must be unique within a Task Definition."
ULIMIT_SOFT_ABOVE_HARD = (
    "Invalid ulimit '{ulimit}' for container '{name}'. 'softLimit' cannot be greater than 'hardLimit'."
)
SWAPPINESS_OUT_OF_RANGE = "Invalid 'swappiness' setting for container '{name}'. It must be between 0 and 100."
EPHEMERAL_STORAGE_RANGE = "Invalid 'ephemeralStorage' setting for task. 'sizeInGiB' must be between 21 and 200."
EPHEMERAL_STORAGE_FARGATE_ONLY = "'ephemeralStorage' is only supported for tasks using the Fargate launch type."
PLACEMENT_CONSTRAINT_EXPRESSION = "A memberOf task placement constraint must have an expression."
TOO_MANY_PLACEMENT_CONSTRAINTS = "A task definition can have at most 10 placement constraints."
TASK_REF_NEEDS_REVISION = "A revision must be specified: use family:revision or the full task definition ARN."
DEREGISTER_NOT_ACTIVE = "The task definition {family}:{revision} is already {status}."
DELETE_TOO_MANY = "taskDefinitions can have at most 10 items."
DELETE_NONE = "taskDefinitions must contain at least one task definition."
DELETE_STILL_ACTIVE = (
    "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
)
DELETE_NOT_FOUND = "The specified task definition does not exist."

# -- ecslite's guidance (Beyond ECS) ----------------------------------------------------------------------

HINT_FARGATE_MEMORY = " Valid memory for cpu {cpu}: {values}."
HINT_FARGATE_CPU = " Valid Fargate cpu values: {values}."
HINT_TASK_CPU_EC2 = " Task cpu on EC2 must be between 128 and 196608 units."
