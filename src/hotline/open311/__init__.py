"""Open311 GeoReport v2: a translation layer over tickets for civic apps."""
