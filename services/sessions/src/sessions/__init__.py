"""The sessions service: sessions, goals, feedback and check-ins of active pairs."""
