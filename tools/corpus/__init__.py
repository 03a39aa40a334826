"""Text corpora: where excerpts come from, cleaned, deduplicated and identified by content hash."""
