"""Staff console routes."""
