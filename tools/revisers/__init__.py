"""Revisers: write a better explanation from the current one, its score, records and counterexamples."""
