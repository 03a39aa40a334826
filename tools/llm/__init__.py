"""The one LLM seam: explainer, simulator, prober and reviser depend on `tools.llm.protocol.LLM` only."""
