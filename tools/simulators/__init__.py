"""Simulators: predict a neuron's per-token activations (0-10 scale) from an explanation alone."""
