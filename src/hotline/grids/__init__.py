"""The grid hierarchy (网格): county > township > village > grid."""
