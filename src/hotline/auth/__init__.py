"""Principals, their tokens and roles, and the scoping rules built on them."""
