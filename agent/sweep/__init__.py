"""Budgeted refinement sweeps over many neurons: selection, scheduling, outputs."""
