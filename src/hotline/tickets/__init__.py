"""Tickets: petitions (诉求) and service orders (点单), their life and timeline."""
