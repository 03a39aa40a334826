"""Test support shared across the suite: a scriptable OpenAI-compatible server on loopback, fixtures."""
