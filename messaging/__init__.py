"""Messaging: waking workers through the broker, and live-event notifications over Redis."""
