"""The offline `builtin` backend: a deterministic statistical explainer, simulator and reviser.

It is a baseline, not an LLM: explanations are graded token lists with optional token classes and
context conditions, written in a small readable grammar that its simulator parses back. The
simulator also reads free text (LLM-written explanations) through literal words and the subject
model's own token embeddings. Its scores carry the method name `builtin-lexical`.
"""
