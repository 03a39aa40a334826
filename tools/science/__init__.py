"""The science, as pure functions: normalization, expected values, scoring, calibration, intervals (docs/science.md)."""
