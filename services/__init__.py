"""What the service does, between the edges (API routes, worker tasks) and the database."""
