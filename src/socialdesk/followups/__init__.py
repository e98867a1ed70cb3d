"""Asking the customer, after resolution, whether it was really fixed."""
