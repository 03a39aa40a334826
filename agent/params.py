"""The loop's parameters from the command's settings (below `backends` and `refine_setup`, which both need them)."""

from __future__ import annotations

from agent.settings import Settings
from graphs.context import RefineParams


def refine_params(settings: Settings) -> RefineParams:
    """Every loop parameter the settings also have, by name: a new one needs only a field on both."""
    return RefineParams(**{name: getattr(settings, name) for name in RefineParams.model_fields if name in Settings.model_fields})
