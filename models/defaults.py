"""Constants that light modules (settings) need without importing SQLAlchemy."""

DEFAULT_SQLITE_URL = "sqlite:///todobot.db"
"""The local default: a SQLite file in the working directory."""
