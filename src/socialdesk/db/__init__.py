"""Database: engine, declarative base, sessions and the UTC datetime type."""
