"""Built-in images: container images ECS users put in task definitions for plumbing (log routers,
collectors), implemented by ecslite as Python programs run as the container's process.

:mod:`ecslite.builtin.registry` holds the registry (image name patterns → implementation) and the
image reference grammar it matches with; the implementations register themselves there.
The table itself is :mod:`ecslite.builtin.catalog`, registered here so that any use of the
registry sees it.
"""

from ecslite.builtin.catalog import register_all as _register_all

_register_all()
