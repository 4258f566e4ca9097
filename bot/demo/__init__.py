"""The embedded demo: a synthetic caseload run through the real engine."""
