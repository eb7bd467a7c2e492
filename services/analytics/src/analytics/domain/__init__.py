"""The analytics domain: pure Python. Aggregates decide and return events; nothing here
imports a framework, a database, a broker or telemetry (tests/architecture checks it)."""
