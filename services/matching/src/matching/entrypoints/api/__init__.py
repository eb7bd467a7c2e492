"""The matching service's HTTP API (/v1): runs, pairs, mentor requests, pools."""
