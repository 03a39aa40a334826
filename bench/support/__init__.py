"""Loopback doubles of an LLM provider shared by the bench and the tests: the scripted chat server, its rule-following brain, and fault plans."""
