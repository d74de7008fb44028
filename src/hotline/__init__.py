"""hotline: the ticket side of a grassroots petition hotline (初心热线)."""

__version__ = "0.1.0"
