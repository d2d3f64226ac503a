"""Persistence: tables, the append path under the write lock, and every SQLite/PostgreSQL difference."""
