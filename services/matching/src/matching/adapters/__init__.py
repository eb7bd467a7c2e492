"""Adapters of the matching service: tables, repositories, mappers; they speak SQL and NATS."""
