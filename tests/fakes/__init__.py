"""Test doubles that are real enough to trust: synthetic candidates, an in-process Hub on the real client, a tiny model on the real engine."""
