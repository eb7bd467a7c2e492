"""Adapters of the sessions service: tables, repositories, mappers; they speak SQL and NATS."""
