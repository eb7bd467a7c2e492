"""The pure domain: programs, the employee directory, enrollments. Decides and returns events."""
