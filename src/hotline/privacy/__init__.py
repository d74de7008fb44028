"""Callers' personal data: phone normal form and masking (and, later, encryption at rest)."""
