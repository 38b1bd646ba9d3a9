"""The case record: SQLAlchemy models, repositories and Alembic migrations."""
