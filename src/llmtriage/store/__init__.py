"""The request log, feedback and router versions: SQLite by default, PostgreSQL by URL."""
