"""Settings: CLI flags > environment (`REFINERY_*`, `.env`) > `refinery.toml` > defaults.

The CLI passes only the flags a user actually gave as init values, so anything not on the
command line falls through to the environment, then the dotenv file, then the TOML file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "neuron-refinery"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REFINERY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        toml_file="refinery.toml",
    )

    # Subject model
    model: str = Field("smollm2-135m", description="Subject model: smollm2-135m, gpt2[-medium|-large|-xl], tiny-llama, tiny-gpt2.")
    model_path: Path | None = Field(None, description="Directory with the subject's weights and tokenizer (overrides the cache).")
    allow_hub: bool = Field(False, description="Allow downloads from the Hugging Face Hub (off: never touch the network).")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Where converted models, corpora and token caches live.")

    # Corpus and records
    corpus: str = Field("default", description="default | pydoc | DIR | FILE | GLOB of .txt/.jsonl | hf:DATASET[:CONFIG[:SPLIT]].")
    excerpt_tokens: int = Field(64, ge=2, le=2048, description="Tokens per excerpt.")
    max_excerpts: int | None = Field(None, ge=1, description="Use only the first N excerpts (the default corpus is shuffled, so they are a random sample of it).")
    top_k: int = Field(50, ge=4, description="Top-activating excerpts kept per neuron.")
    n_random: int = Field(50, ge=3, description="Uniform random excerpts kept per neuron.")
    n_per_quantile: int = Field(5, ge=0, description="Random excerpts kept per activation-quantile bin.")
    batch_size: int = Field(32, ge=1, description="Excerpts per forward pass.")
    seed: int = Field(0, description="Seed for every random choice (excerpt order, samples).")
    records: Path = Field(Path("runs/records"), description="Records directory ({layer}/{neuron}.json).")
    checkpoint_seconds: float = Field(60.0, ge=0, description="Seconds between checkpoints of a records pass (resume point).")

    # Output and logging
    runs_dir: Path = Field(Path("runs"), description="Where runs, reports and benchmark results are written.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("warning", description="Log level for stderr.")
    log_json: bool = Field(False, description="Logs as JSON lines (for machines) instead of console text.")

    @field_validator("cache_dir", "model_path", "records", "runs_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("REFINERY_CONFIG", "refinery.toml")
        return (init_settings, env_settings, dotenv_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    def public_dump(self) -> dict[str, Any]:
        """The resolved settings, JSON-ready, with secrets left out (saved into run folders)."""
        return self.model_dump(mode="json", exclude={name for name in type(self).model_fields if "key" in name})
