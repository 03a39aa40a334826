"""Test support shared across the suite: fixtures, planted neurons, record manifests, usage counts
(the loopback chat server, its brain and the fault plans live in bench/support, which the bench uses too)."""
