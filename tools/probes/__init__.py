"""Probes: new texts run through the real subject model to test an explanation."""
