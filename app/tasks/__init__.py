"""Job entry points: each opens its transaction and commits it; the domain only flushes."""
