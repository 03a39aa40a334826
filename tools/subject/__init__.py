"""Subject models: the language models whose neurons we explain."""
