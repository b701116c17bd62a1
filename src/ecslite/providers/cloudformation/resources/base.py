"""What a CloudFormation resource type is to ecslite.

A :class:`ResourceHandler` makes, changes and takes down one resource type through ecslite's own
operations (:class:`~ecslite.providers.calls.Calls`), so that whatever a stack makes shows through the
usual APIs exactly as if the template's author had called them. The stack engine decides the order,
writes the events, and turns :class:`ResourceFailed` into the resource's ``*_FAILED`` status reason.

- ``physical_id`` is what ``Ref`` returns (a name for some types, an ARN or an id for others, as
  CloudFormation's reference for the type says); ``attributes`` are what ``Fn::GetAtt`` reads.
- A handler's ``create``/``update`` return once the resource is usable, waiting where CloudFormation
  waits (an ECS service until it is stable, for instance); the engine cancels them on a stack timeout.
- A handler whose create makes the resource and then waits or makes further calls reports the physical
  id as soon as it exists (:meth:`ResourceContext.made`): the engine records it at once, so that a
  rollback after a crash (the server killed while the handler waits) still takes the resource down.
  A create that fails after making its resource takes it down itself (:meth:`ResourceHandler.discard`),
  as CloudFormation's handlers leave nothing of a failed create.
- ``needs_replacement`` says whether a change of properties makes a new resource (created first, the
  old one deleted in the stack's cleanup phase), as CloudFormation's "Update requires: Replacement".
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from ecslite.clock import Clock
from ecslite.providers.calls import Calls

Doc = dict[str, Any]
T = TypeVar("T")
log = logging.getLogger(__name__)

_SUFFIX_ALPHABET = string.ascii_uppercase + string.digits
SUFFIX_LENGTH = 12


class ResourceFailed(Exception):
    """A resource could not be made, changed or taken down; ``reason`` is its status reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Physical:
    """A resource as it exists: what ``Ref`` returns and what ``Fn::GetAtt`` reads."""

    physical_id: str
    attributes: Doc = field(default_factory=dict)


@dataclass(slots=True)
class ResourceContext:
    """Where a resource is made: its stack, its logical id, and the operations to make it with."""

    call: Calls
    clock: Clock
    stack_name: str
    stack_id: str
    logical_id: str
    # The stack's tags and CloudFormation's own (aws:cloudformation:stack-name, -stack-id, -logical-id),
    # as [{"Key", "Value"}]; handlers pass them on to the resource when its type takes tags.
    tags: list[Doc] = field(default_factory=list)
    # The engine's recorder for :meth:`made` (None outside a stack operation, as in some tests).
    report: Callable[[Physical], None] | None = None

    @property
    def account(self) -> str:
        return self.call.ctx.account

    @property
    def region(self) -> str:
        return self.call.ctx.region

    def made(self, physical_id: str, attributes: Doc | None = None) -> None:
        """Tells the engine the resource exists, before the handler returns (it records the physical id
        and the attributes known so far at once)."""
        if self.report is not None:
            self.report(Physical(physical_id, dict(attributes or {})))

    def physical_name(self, max_length: int = 255, *, lowercase: bool = False) -> str:
        """A name for a resource whose template gives none: ``<stack>-<logical id>-<random>``, the
        stack and logical id cut so the whole fits ``max_length`` (CloudFormation's generated names)."""
        suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))
        prefix = f"{self.stack_name}-{self.logical_id}"[: max(0, max_length - SUFFIX_LENGTH - 1)]
        name = f"{prefix}-{suffix}" if prefix else suffix[:max_length]
        return name.lower() if lowercase else name

    async def poll(self, check: Callable[[], Awaitable[T | None]], interval: float = 2.0) -> T:
        """Calls ``check`` every ``interval`` seconds until it returns something other than None (the
        stack engine cancels the wait when the stack's timeout passes)."""
        while True:
            found = await check()
            if found is not None:
                return found
            await self.clock.sleep(interval)


class ResourceHandler:
    """One resource type. Subclasses set the class attributes and implement ``create`` and ``delete``;
    types that CloudFormation can change in place set ``replace_always = False`` and implement
    ``update``."""

    type_name: ClassVar[str]
    # Names ``Fn::GetAtt`` accepts (checked when a template is validated).
    attributes: ClassVar[frozenset[str]] = frozenset()
    # Every change makes a new resource (``Update requires: Replacement`` for every property) unless
    # a subclass says which properties do (``replace_on``) and implements ``update`` for the rest.
    replace_always: ClassVar[bool] = True
    replace_on: ClassVar[frozenset[str]] = frozenset()
    # The property that names the resource: a custom-named resource cannot be replaced (CloudFormation
    # refuses: the new one would need the old one's name).
    name_property: ClassVar[str | None] = None
    # IAM resources need CAPABILITY_IAM (CAPABILITY_NAMED_IAM when ``name_property`` is set).
    iam: ClassVar[bool] = False
    # ``update`` changes the resource's tags in place and nothing else when only ``Tags`` differ: an
    # UpdateStack that changes the stack's tags passes them on to it, as CloudFormation does (the engine
    # calls ``update`` with the old and new stack tags merged into the ``Tags`` of both sides).
    stack_tags: ClassVar[bool] = False

    def needs_replacement(self, old: Doc, new: Doc) -> bool:
        if self.replace_always:
            return old != new
        return any(old.get(name) != new.get(name) for name in self.replace_on)

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        raise NotImplementedError

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        """Changes the resource in place (called only when ``needs_replacement`` is False)."""
        raise NotImplementedError

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        """Takes the resource down; one that is already gone counts as deleted."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def finishing(
        self, rc: ResourceContext, physical_id: str, props: Doc, attributes: Doc | None = None
    ) -> AsyncIterator[None]:
        """Around the rest of a create once the resource exists: reports it (``rc.made``) and, if what
        follows fails, takes it down before the failure goes on. A cancelled create leaves it to the
        rollback, which knows the physical id."""
        rc.made(physical_id, attributes)
        try:
            yield
        except Exception:
            await self.discard(rc, Physical(physical_id, dict(attributes or {})), props)
            raise

    async def discard(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        """Takes down what a failing create made. A failure here is only logged: the create's own error
        is what the stack shows, and the physical id reported with ``made`` lets the rollback try again."""
        try:
            await self.delete(rc, current, props)
        except Exception:
            log.warning(
                "could not take down a resource whose creation failed",
                extra={"type": self.type_name, "physical_id": current.physical_id},
                exc_info=True,
            )


HANDLERS: dict[str, ResourceHandler] = {}


def register(cls: type[ResourceHandler]) -> type[ResourceHandler]:
    """Class decorator: makes the type available to templates."""
    HANDLERS[cls.type_name] = cls()
    return cls
