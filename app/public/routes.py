"""Public page routes."""
