"""Use cases of the analytics service: load, decide with the domain, save; they own the
transaction (through the kit's command runner) and know nothing about HTTP."""
