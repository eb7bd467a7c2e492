"""The matching service: candidate pools, explained match runs, mentoring pairs."""
