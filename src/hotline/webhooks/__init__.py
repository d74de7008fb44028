"""Departmental integrations: subscriptions and the transactional outbox."""
