"""Test factories, one module per domain."""
