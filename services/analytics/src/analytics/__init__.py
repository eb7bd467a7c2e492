"""The analytics service: read models for program KPIs, retention and at-risk pairs."""
