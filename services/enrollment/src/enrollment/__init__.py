"""The enrollment service: programs, the employee directory, applications, participants."""
