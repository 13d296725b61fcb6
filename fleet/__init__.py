"""Fleet: what AWS's own engines answer across many functions (dev tooling, never in the layer).

The Logs Insights queries over recap log lines (insights_queries.py, run by `httprecap fleet`
through insights.py), the Glue table and Athena queries over recaps Firehose delivered to S3
(athena.py), and the example stacks' resources rendered from both (insights_iac.py,
athena_iac.py, through generated.py). docs/FLEET.md says which engine answers what, at which scale.
"""
