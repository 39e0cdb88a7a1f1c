"""Storage: where artifacts and checkpoints live (the database or a directory)."""
