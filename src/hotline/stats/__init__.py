"""Reporting: the three rates (三率) and their breakdowns, as set-based SQL."""
