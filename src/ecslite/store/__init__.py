"""The state store: SQLite (WAL, one writer) holding every resource the APIs accepted."""
