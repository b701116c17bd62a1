"""The IAM provider: roles and their policies (query protocol, API 2010-05-08).

IAM is global, so roles belong to the caller's account whatever region a request was signed for.
Policies are stored and shown, not enforced: every caller may do everything, as with IAM off. Roles
are real objects nonetheless: STS AssumeRole and the task credentials endpoint issue credentials
only for roles that exist, and requests signed with those credentials are attributed to the role.
Customer managed policies are kept with their versions. Operations ecslite does not serve (users,
groups, instance profiles)
answer ``NotImplemented``.
"""

from __future__ import annotations

from ecslite.providers.iam.policies import PolicyOps
from ecslite.providers.iam.role_policies import RolePolicyOps
from ecslite.providers.iam.roles import RoleOps


class IamProvider(RoleOps, RolePolicyOps, PolicyOps):
    """AWS Identity and Access Management: roles and managed policies."""
