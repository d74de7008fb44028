"""The web console (中文) served at /console/: static assets and the cookie session."""
