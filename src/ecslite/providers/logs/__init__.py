"""CloudWatch Logs (API 2014-03-28): log groups, streams, events, filter patterns and Logs Insights."""
