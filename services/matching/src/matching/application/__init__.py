"""Use cases of the matching service: load, decide with the domain, save; they own the
transaction (through the kit's command runner) and know nothing about HTTP."""
