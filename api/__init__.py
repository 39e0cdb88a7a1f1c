"""The HTTP API: FastAPI routes over the database, the queue and the engine's predictor."""
