"""Task placement on container instances (spec/ecs.md §5): the cluster query language, placement
constraints and strategies, and the engine that places tasks one at a time with them.

Everything here is pure: instances come in as :class:`~ecslite.model.placement.engine.Instance`
values built by ``store.placement``; nothing reads the store or the clock.
"""
