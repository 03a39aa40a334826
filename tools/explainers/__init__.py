"""Explainers: write candidate explanations of a neuron from records it is allowed to see."""
