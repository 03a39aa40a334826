"""The loop's parameters from the command's settings (below `backends` and `refine_setup`, which both need them)."""

from __future__ import annotations

from agent.settings import Settings
from graphs.context import RefineParams


def refine_params(settings: Settings) -> RefineParams:
    return RefineParams(
        max_iters=settings.max_iters, epsilon=settings.epsilon, patience=settings.patience, target=settings.target,
        n_explanations=settings.n_explanations, n_revisions=settings.n_revisions,
        probes_per_generator=settings.probes_per_generator, seed=settings.seed,
        max_explanation_words=settings.max_explanation_words, adopt_confidence=settings.adopt_confidence,
    )
