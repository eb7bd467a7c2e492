"""Adapters of the enrollment service: tables, repositories, mappers; they speak SQL and NATS."""
