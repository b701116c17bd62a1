"""ecslite's Fluent Bit: the built-in ``aws-for-fluent-bit`` / ``fluent-bit`` images (design.md
"Built-in images", spec/telemetry.md §4–§6, ecs.md §10).

Run as a container's process (``python -m ecslite.builtin.fluentbit [-c FILE]``) inside the task's
namespaces. It reads a Fluent Bit configuration (:mod:`.config`), runs the inputs, filters and
outputs it names (:mod:`.inputs`, :mod:`.filters`, :mod:`.outputs`, routed by :mod:`.engine`),
serves the monitoring API on 2020 (:mod:`.monitor`) and hands everything its inputs receive to
ecslite (:mod:`ecslite.builtin.tap`).
"""
