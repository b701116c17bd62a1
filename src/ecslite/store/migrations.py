"""Versioned schema migrations. Append only: a released migration is never edited.

Migration N brings the file to ``PRAGMA user_version = N``. Each resource table has an
autoincrement ``rid`` (creation order, the sort key behind list pagination, never reused), the
partition columns ``account`` and ``region``, a few indexed lookup columns, and ``doc``: the
resource as the API shows it, in JSON.
"""

from __future__ import annotations

_V1 = [
    """CREATE TABLE clusters (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
        arn TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, name))""",
    """CREATE TABLE task_definition_families (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, family TEXT NOT NULL,
        last_revision INTEGER NOT NULL,
        UNIQUE (account, region, family))""",
    """CREATE TABLE task_definitions (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, family TEXT NOT NULL, revision INTEGER NOT NULL,
        arn TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, family, revision))""",
    "CREATE INDEX task_definitions_status ON task_definitions (account, region, status, family, revision)",
    """CREATE TABLE tasks (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, cluster TEXT NOT NULL, id TEXT NOT NULL,
        arn TEXT NOT NULL, desired_status TEXT NOT NULL, last_status TEXT NOT NULL,
        family TEXT NOT NULL, started_by TEXT, service_name TEXT, launch_type TEXT,
        container_instance TEXT, stopped_at REAL, doc TEXT NOT NULL,
        UNIQUE (account, region, cluster, id))""",
    "CREATE INDEX tasks_by_desired ON tasks (account, region, cluster, desired_status)",
    "CREATE INDEX tasks_by_id ON tasks (id)",
    "CREATE INDEX tasks_live ON tasks (last_status) WHERE last_status != 'STOPPED'",
    """CREATE TABLE container_instances (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, cluster TEXT NOT NULL, id TEXT NOT NULL,
        arn TEXT NOT NULL, status TEXT NOT NULL, ec2_instance_id TEXT, doc TEXT NOT NULL,
        UNIQUE (account, region, cluster, id))""",
    "CREATE INDEX container_instances_by_id ON container_instances (id)",
    """CREATE TABLE capacity_providers (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
        arn TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, name))""",
    """CREATE TABLE account_settings (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, principal TEXT NOT NULL,
        name TEXT NOT NULL, value TEXT NOT NULL,
        UNIQUE (account, region, principal, name))""",
    """CREATE TABLE tags (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        resource_arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        UNIQUE (resource_arn, key))""",
    """CREATE TABLE attributes (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, cluster TEXT NOT NULL,
        target_type TEXT NOT NULL, target_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT,
        UNIQUE (account, region, cluster, target_type, target_id, name))""",
    """CREATE TABLE partitions (
        account TEXT NOT NULL, region TEXT NOT NULL, initialized_at REAL NOT NULL,
        PRIMARY KEY (account, region))""",
    """CREATE TABLE services (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, cluster TEXT NOT NULL, name TEXT NOT NULL,
        arn TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX services_by_name ON services (account, region, cluster, name, status)",
    """CREATE TABLE idempotency_tokens (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, operation TEXT NOT NULL, token TEXT NOT NULL,
        request_hash TEXT NOT NULL, response TEXT NOT NULL, created_at REAL NOT NULL,
        UNIQUE (account, region, operation, token))""",
]

# Version 2: the virtual VPC (store/vpc.py). Addresses are unique per pool (a subnet CIDR or the
# bridge-mode range) across every partition, because every partition's tasks share one host bridge.
_V2 = [
    """CREATE TABLE vpc_partitions (
        account TEXT NOT NULL, region TEXT NOT NULL, initialized_at REAL NOT NULL,
        PRIMARY KEY (account, region))""",
    """CREATE TABLE vpcs (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, cidr TEXT NOT NULL,
        is_default INTEGER NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, id))""",
    """CREATE TABLE subnets (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, vpc_id TEXT NOT NULL,
        cidr TEXT NOT NULL, zone TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, id))""",
    "CREATE INDEX subnets_by_vpc ON subnets (account, region, vpc_id)",
    """CREATE TABLE security_groups (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, vpc_id TEXT NOT NULL,
        name TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, id), UNIQUE (account, region, vpc_id, name))""",
    """CREATE TABLE network_interfaces (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
        pool TEXT NOT NULL, address TEXT NOT NULL, mac TEXT NOT NULL, subnet_id TEXT, vpc_id TEXT,
        task_arn TEXT, doc TEXT NOT NULL,
        UNIQUE (id), UNIQUE (pool, address))""",
    "CREATE INDEX network_interfaces_by_task ON network_interfaces (task_arn)",
    "CREATE INDEX network_interfaces_by_subnet ON network_interfaces (account, region, subnet_id)",
]

# Version 3: IAM roles and their policies (global: one partition per account), credentials issued by
# STS (store/iam.py), Secrets Manager secrets (store/secrets.py) and SSM parameters
# (store/parameters.py). Secret and parameter values are stored encrypted; a version belongs to its
# secret or parameter and goes with it.
_V3 = [
    """CREATE TABLE iam_roles (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, name TEXT NOT NULL, name_key TEXT NOT NULL, path TEXT NOT NULL,
        arn TEXT NOT NULL, role_id TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, name_key))""",
    """CREATE TABLE iam_role_policies (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        role_rid INTEGER NOT NULL REFERENCES iam_roles (rid) ON DELETE CASCADE,
        name TEXT NOT NULL, document TEXT NOT NULL,
        UNIQUE (role_rid, name))""",
    """CREATE TABLE iam_role_attachments (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        role_rid INTEGER NOT NULL REFERENCES iam_roles (rid) ON DELETE CASCADE,
        policy_arn TEXT NOT NULL, policy_name TEXT NOT NULL, policy_path TEXT NOT NULL,
        UNIQUE (role_rid, policy_arn))""",
    """CREATE TABLE sts_credentials (
        access_key_id TEXT PRIMARY KEY,
        account TEXT NOT NULL, role_arn TEXT NOT NULL, role_id TEXT NOT NULL, session_name TEXT NOT NULL,
        secret_access_key TEXT NOT NULL, session_token TEXT NOT NULL,
        issued_at REAL NOT NULL, expires_at REAL NOT NULL)""",
    "CREATE INDEX sts_credentials_by_expiry ON sts_credentials (expires_at)",
    """CREATE TABLE secrets (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL,
        created_at REAL NOT NULL, deleted_at REAL, purge_at REAL, doc TEXT NOT NULL,
        UNIQUE (account, region, name), UNIQUE (arn))""",
    """CREATE TABLE secret_versions (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        secret_rid INTEGER NOT NULL REFERENCES secrets (rid) ON DELETE CASCADE,
        version_id TEXT NOT NULL, stages TEXT NOT NULL, created_at REAL NOT NULL,
        kind TEXT NOT NULL, value BLOB NOT NULL,
        UNIQUE (secret_rid, version_id))""",
    """CREATE TABLE ssm_parameters (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
        UNIQUE (account, region, name))""",
    """CREATE TABLE ssm_parameter_versions (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        parameter_rid INTEGER NOT NULL REFERENCES ssm_parameters (rid) ON DELETE CASCADE,
        version INTEGER NOT NULL, labels TEXT NOT NULL, value BLOB NOT NULL, doc TEXT NOT NULL,
        UNIQUE (parameter_rid, version))""",
]

# Version 4: services (store/services.py). A service ARN names one row (a reused name replaces the
# INACTIVE row); events, service deployments, revisions and the scheduler's per-task records hang
# off the service ARN. Tasks are looked up by their service.
_V4 = [
    "CREATE UNIQUE INDEX services_by_arn ON services (arn)",
    "CREATE INDEX tasks_by_service ON tasks (account, region, cluster, service_name)",
    """CREATE TABLE service_events (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        service_arn TEXT NOT NULL, id TEXT NOT NULL, created_at REAL NOT NULL, message TEXT NOT NULL)""",
    "CREATE INDEX service_events_by_service ON service_events (service_arn, rid)",
    """CREATE TABLE service_deployments (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        service_arn TEXT NOT NULL, arn TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (arn))""",
    "CREATE INDEX service_deployments_by_service ON service_deployments (service_arn, rid)",
    """CREATE TABLE service_revisions (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        service_arn TEXT NOT NULL, arn TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (arn))""",
    """CREATE TABLE service_tasks (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        service_arn TEXT NOT NULL, task_arn TEXT NOT NULL, deployment_id TEXT NOT NULL,
        created_at REAL NOT NULL, healthy_at REAL, for_health INTEGER NOT NULL DEFAULT 0,
        settled INTEGER NOT NULL DEFAULT 0,
        UNIQUE (task_arn))""",
    "CREATE INDEX service_tasks_open ON service_tasks (service_arn) WHERE settled = 0",
]

# Version 5: Spot interruptions announced and not yet carried out (store/capacity.py): the task is
# stopped with SpotInterruption once its warning has run out.
_V5 = [
    """CREATE TABLE spot_interruptions (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, cluster TEXT NOT NULL, task_arn TEXT NOT NULL,
        warned_at REAL NOT NULL, due_at REAL NOT NULL,
        UNIQUE (task_arn))""",
    "CREATE INDEX spot_interruptions_due ON spot_interruptions (due_at)",
]

# Version 6: Application Auto Scaling (store/autoscaling.py: scalable targets, scaling policies,
# scheduled actions, scaling activities) and CloudWatch (store/cloudwatch.py: metrics put by users,
# their datapoints, alarms and alarm history). A target's policies, actions and activities are keyed
# by the target's (namespace, resource id, dimension); a metric's datapoints go with the metric.
_V6 = [
    """CREATE TABLE scalable_targets (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, namespace TEXT NOT NULL, resource_id TEXT NOT NULL,
        dimension TEXT NOT NULL, arn TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, namespace, resource_id, dimension), UNIQUE (arn))""",
    """CREATE TABLE scaling_policies (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, namespace TEXT NOT NULL, resource_id TEXT NOT NULL,
        dimension TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, namespace, resource_id, dimension, name))""",
    "CREATE INDEX scaling_policies_by_arn ON scaling_policies (arn)",
    """CREATE TABLE scheduled_actions (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, namespace TEXT NOT NULL, resource_id TEXT NOT NULL,
        dimension TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL, next_run REAL, doc TEXT NOT NULL,
        UNIQUE (account, region, namespace, resource_id, dimension, name))""",
    "CREATE INDEX scheduled_actions_due ON scheduled_actions (next_run)",
    """CREATE TABLE scaling_activities (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, namespace TEXT NOT NULL, resource_id TEXT NOT NULL,
        dimension TEXT NOT NULL, id TEXT NOT NULL, start_time REAL NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX scaling_activities_by_target ON scaling_activities (account, region, namespace, resource_id, rid)",
    """CREATE TABLE cw_metrics (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        dims TEXT NOT NULL, last_at REAL NOT NULL,
        UNIQUE (account, region, namespace, name, dims))""",
    """CREATE TABLE cw_datapoints (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        metric_rid INTEGER NOT NULL REFERENCES cw_metrics (rid) ON DELETE CASCADE,
        ts REAL NOT NULL, unit TEXT NOT NULL, count REAL NOT NULL, sum REAL NOT NULL,
        min REAL NOT NULL, max REAL NOT NULL, resolution INTEGER NOT NULL)""",
    "CREATE INDEX cw_datapoints_by_metric ON cw_datapoints (metric_rid, ts)",
    """CREATE TABLE cw_alarms (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL,
        state TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, name))""",
    """CREATE TABLE cw_alarm_history (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, alarm_name TEXT NOT NULL, ts REAL NOT NULL,
        kind TEXT NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX cw_alarm_history_by_alarm ON cw_alarm_history (account, region, alarm_name, rid)",
]

# Version 7: Cloud Map (store/cloudmap.py): namespaces, services, instances and operations. Ids are
# unique per partition; a service belongs to its namespace, an instance to its service (an instance
# ECS registered names its task in ``owner``). ``revision`` of a service counts instance changes
# (DiscoverInstancesRevision).
_V7 = [
    """CREATE TABLE sd_namespaces (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, arn TEXT NOT NULL,
        name TEXT NOT NULL, type TEXT NOT NULL, vpc_id TEXT, doc TEXT NOT NULL,
        UNIQUE (account, region, id), UNIQUE (arn))""",
    "CREATE INDEX sd_namespaces_by_name ON sd_namespaces (name)",
    """CREATE TABLE sd_services (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, arn TEXT NOT NULL,
        namespace_id TEXT NOT NULL, name TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL,
        UNIQUE (account, region, id), UNIQUE (arn))""",
    "CREATE INDEX sd_services_by_namespace ON sd_services (account, region, namespace_id, name)",
    """CREATE TABLE sd_instances (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, service_id TEXT NOT NULL, id TEXT NOT NULL,
        health TEXT NOT NULL, owner TEXT, doc TEXT NOT NULL,
        UNIQUE (account, region, service_id, id))""",
    "CREATE INDEX sd_instances_by_owner ON sd_instances (owner) WHERE owner IS NOT NULL",
    """CREATE TABLE sd_operations (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, request_key TEXT,
        doc TEXT NOT NULL,
        UNIQUE (account, region, id))""",
    "CREATE INDEX sd_operations_by_request ON sd_operations (account, region, request_key)",
]

# Version 8: tasks looked up by ARN (every task read and write, and the service controller's pruning of
# its settled records) use an index instead of scanning every row, STOPPED ones included: with 10,000
# tasks kept an hour (§3.1) the scan held the event loop ~10 s per housekeeping pass.
_V8 = ["CREATE INDEX tasks_by_arn ON tasks (arn)"]

# Version 9: ELBv2 (store/elbv2.py): load balancers, target groups, listeners, rules, targets and which
# listeners/rules forward to which target group (``elb_tg_links``, rewritten with the listener or rule:
# a group's LoadBalancerArns and the ResourceInUse check read it). A target is keyed by (group, id,
# port); its health state lives in the row so every reader (DescribeTargetHealth, the ALB's routing)
# sees what the last check decided.
_V9 = [
    """CREATE TABLE elb_load_balancers (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (account, region, name), UNIQUE (arn))""",
    """CREATE TABLE elb_target_groups (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL,
        doc TEXT NOT NULL, attributes TEXT NOT NULL,
        UNIQUE (account, region, name), UNIQUE (arn))""",
    """CREATE TABLE elb_listeners (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, arn TEXT NOT NULL, load_balancer_arn TEXT NOT NULL,
        port INTEGER NOT NULL, doc TEXT NOT NULL,
        UNIQUE (load_balancer_arn, port), UNIQUE (arn))""",
    """CREATE TABLE elb_rules (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, arn TEXT NOT NULL, listener_arn TEXT NOT NULL,
        priority INTEGER, doc TEXT NOT NULL,
        UNIQUE (listener_arn, priority), UNIQUE (arn))""",
    """CREATE TABLE elb_tg_links (
        target_group_arn TEXT NOT NULL, user_arn TEXT NOT NULL, load_balancer_arn TEXT NOT NULL,
        PRIMARY KEY (target_group_arn, user_arn))""",
    "CREATE INDEX elb_tg_links_by_user ON elb_tg_links (user_arn)",
    """CREATE TABLE elb_targets (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, target_group_arn TEXT NOT NULL,
        id TEXT NOT NULL, port INTEGER NOT NULL, zone TEXT, state TEXT NOT NULL, reason TEXT,
        description TEXT, registered_at REAL NOT NULL, drain_until REAL, last_check TEXT,
        UNIQUE (target_group_arn, id, port))""",
]

# Version 10: EventBridge rules (store/event_rules.py) on the default event bus, one row per (account,
# region, bus, name) with its targets beside the rule; ``next_run`` is when a scheduled, enabled rule
# fires next (NULL otherwise), so schedules survive a restart.
_V10 = [
    """CREATE TABLE ev_rules (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, bus TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL,
        state TEXT NOT NULL, next_run REAL, doc TEXT NOT NULL, targets TEXT NOT NULL,
        UNIQUE (account, region, bus, name))""",
    "CREATE INDEX ev_rules_due ON ev_rules (next_run) WHERE next_run IS NOT NULL",
]

# Version 11: EventBridge Scheduler (store/schedules.py): schedule groups, and schedules named within
# their group; ``next_run`` is the next invocation of an enabled schedule (NULL: none), ``attempt`` the
# time a failed invocation is tried again (NULL: none pending), so both survive a restart.
_V11 = [
    """CREATE TABLE sch_groups (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, name))""",
    """CREATE TABLE sch_schedules (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL,
        state TEXT NOT NULL, next_run REAL, attempt REAL, doc TEXT NOT NULL,
        UNIQUE (account, region, grp, name))""",
    "CREATE INDEX sch_schedules_due ON sch_schedules (next_run) WHERE next_run IS NOT NULL",
    "CREATE INDEX sch_schedules_retry ON sch_schedules (attempt) WHERE attempt IS NOT NULL",
]

# Version 12: ACM certificates (store/certificates.py): the PEM certificate and chain, the private key
# sealed with the data directory's value cipher, and RequestCertificate's idempotency token.
_V12 = [
    """CREATE TABLE acm_certificates (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, arn TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
        token TEXT, doc TEXT NOT NULL, certificate TEXT NOT NULL, chain TEXT NOT NULL, private_key BLOB NOT NULL)""",
    "CREATE INDEX acm_certificates_by_partition ON acm_certificates (account, region)",
]

# Version 13: the recent invocations of schedules' and rules' targets (store/invocations.py), newest
# kept per schedule or rule target, so ``ecslite schedules`` and the UI show them after a restart.
_V13 = [
    """CREATE TABLE target_invocations (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, source TEXT NOT NULL, owner TEXT NOT NULL,
        target TEXT NOT NULL, ts REAL NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX target_invocations_by_owner ON target_invocations (owner, target, rid)",
]

# Version 14: ECS Express Mode services (store/express_services.py): each one's configurations and the
# resources made for it in ECS, ELBv2, ACM, EC2, Application Auto Scaling and Logs.
_V14 = [
    """CREATE TABLE express_services (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, arn TEXT NOT NULL, network TEXT NOT NULL,
        status TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, arn))""",
]

# Version 15: CloudFormation (store/stacks.py): stacks (kept after DELETE_COMPLETE, found by id), their
# resources by logical id, their events in order, and change sets.
_V15 = [
    """CREATE TABLE cfn_stacks (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, stack_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
        status TEXT NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX cfn_stacks_by_name ON cfn_stacks (account, region, name)",
    """CREATE TABLE cfn_resources (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        stack_id TEXT NOT NULL, logical_id TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (stack_id, logical_id))""",
    """CREATE TABLE cfn_events (
        rid INTEGER PRIMARY KEY AUTOINCREMENT, stack_id TEXT NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX cfn_events_by_stack ON cfn_events (stack_id, rid)",
    """CREATE TABLE cfn_change_sets (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, arn TEXT NOT NULL UNIQUE, stack_id TEXT NOT NULL,
        name TEXT NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX cfn_change_sets_by_stack ON cfn_change_sets (stack_id, name)",
]

# Version 16: S3 (store/s3.py): buckets with their stored configuration, object metadata (the bytes are
# files under the S3 directory, at ``path``), multipart uploads in progress and their parts.
_V16 = [
    """CREATE TABLE s3_buckets (
        name TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, created REAL NOT NULL,
        doc TEXT NOT NULL)""",
    """CREATE TABLE s3_objects (
        bucket TEXT NOT NULL, key TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
        etag TEXT NOT NULL, modified REAL NOT NULL, doc TEXT NOT NULL,
        PRIMARY KEY (bucket, key))""",
    """CREATE TABLE s3_uploads (
        upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
        doc TEXT NOT NULL)""",
    "CREATE INDEX s3_uploads_by_bucket ON s3_uploads (bucket, key, initiated)",
    """CREATE TABLE s3_parts (
        upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
        modified REAL NOT NULL, doc TEXT NOT NULL,
        PRIMARY KEY (upload_id, part_number))""",
]

# Version 17: ECR (store/ecr.py): repositories, their images (manifests by digest), tags and the blobs
# each repository holds (the bytes are content-addressed files under ``<data dir>/ecr``).
_V17 = [
    """CREATE TABLE ecr_repositories (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, name))""",
    "CREATE INDEX ecr_repositories_by_arn ON ecr_repositories (arn)",
    """CREATE TABLE ecr_images (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (account, region, repository, digest))""",
    """CREATE TABLE ecr_image_tags (
        account TEXT NOT NULL, region TEXT NOT NULL, repository TEXT NOT NULL, tag TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (account, region, repository, tag))""",
    """CREATE TABLE ecr_layers (
        account TEXT NOT NULL, region TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (account, region, repository, digest))""",
    "CREATE INDEX ecr_layers_by_digest ON ecr_layers (digest)",
]

# Version 18: IAM customer managed policies (store/iam.py): one row per policy, its versions in ``doc``;
# names are unique per account without regard to case, as role names are.
_V18 = [
    """CREATE TABLE iam_policies (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, name_key TEXT NOT NULL, path TEXT NOT NULL, arn TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL,
        UNIQUE (account, name_key))""",
]

MIGRATIONS: list[list[str]] = [
    _V1,
    _V2,
    _V3,
    _V4,
    _V5,
    _V6,
    _V7,
    _V8,
    _V9,
    _V10,
    _V11,
    _V12,
    _V13,
    _V14,
    _V15,
    _V16,
    _V17,
    _V18,
]
