"""Configuration: the service's settings (env vars REPROGRAM_*) and its logging."""
