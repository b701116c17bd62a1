"""ecslite's AWS X-Ray daemon: segments on UDP 2000 become spans (spec/telemetry.md §3.5), and the
daemon's sampling proxy on TCP 2000 answers the SDKs' ``GetSamplingRules``/``SamplingTargets``.

Run as ``python -m ecslite.builtin.xray [-b ADDR:PORT] [-t ADDR:PORT] [-n REGION] [-o]`` inside the task
(:mod:`.daemon`); :mod:`.segments` is the segment-to-span mapping, shared with the collector's
``awsxray`` receiver.
"""
