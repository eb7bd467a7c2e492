"""Entrypoints of the matching service: HTTP routers and event consumers. They parse input,
call one use case and map its result; no business rule lives here."""
