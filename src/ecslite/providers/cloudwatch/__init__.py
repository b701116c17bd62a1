"""Amazon CloudWatch metrics and alarms (API 2010-08-01), in JSON 1.0, query and Smithy RPC v2 CBOR."""
