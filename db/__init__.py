"""Persistence shared by the API and the worker: settings, ORM models, sessions, queries."""
