"""Adapters of the analytics service: tables, repositories, mappers; they speak SQL and NATS."""
