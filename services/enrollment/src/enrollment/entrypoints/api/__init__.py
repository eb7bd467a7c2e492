"""The REST API (/v1): routers, request and response bodies, problem mapping."""
