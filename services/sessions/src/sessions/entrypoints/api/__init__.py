"""The HTTP API of the sessions service (paths and roles per shared/API.md)."""
