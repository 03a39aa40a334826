"""Views of a run folder: the typed view models, built from trace events, rendered as terminal text or JSON."""
