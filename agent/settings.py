"""Settings: CLI flags > environment (`REFINERY_*`, `.env`) > `refinery.toml` > defaults.

The CLI passes only the flags a user actually gave as init values, so anything not on the
command line falls through to the environment, then the dotenv file, then the TOML file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Backend = Literal["auto", "builtin", "llm", "local"]


LLM_RECORDS_PER_SPLIT = 5
"""OpenAI's choice: 5 top and 5 random records per split when an LLM simulates them."""


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
    batch_size: int | None = Field(None, ge=1, description="Excerpts per records forward; unset = 32 on the CPU, chosen from free memory on a GPU.")
    seed: int = Field(0, description="Seed for every random choice (excerpt order, samples).")
    records: Path = Field(Path("runs/records"), description="Records directory ({layer}/{neuron}.json).")
    checkpoint_seconds: float = Field(60.0, ge=0, description="Seconds between checkpoints of a records pass (resume point).")

    # Explaining and scoring
    backend: Backend = Field(
        "auto", description="Who explains and simulates: builtin (offline statistics), llm (OpenAI or --llm-base-url), "
        "local (the optional llama.cpp server); auto = llm when a base URL or OPENAI_API_KEY is set, else builtin.")
    simulator: Literal["auto", "builtin", "chat-logprob", "chat-logprob-numbered", "chat-json", "chat-highlight", "prompt-logprob"] = Field(
        "auto", description="Simulation method; auto = builtin for the builtin backend, else prompt-logprob when "
        "--llm-prompt-logprobs says the server supports it, else chat-logprob.")
    n_explanations: int = Field(5, ge=1, le=50, description="Best-of-n: explanations sampled, the best kept by its selection-split score.")
    records_per_split: int | None = Field(
        None, ge=1, description="Records per split; default: all the records allow with the builtin simulator (it costs "
        f"nothing), the reference's {LLM_RECORDS_PER_SPLIT} with an LLM simulator (every record is a paid or slow call).")
    judge: Literal["auto", "builtin", "llm"] = Field(
        "auto", description="Who answers detection and fuzzing: builtin = the simulation thresholded (free); llm = the "
        "simulator model reads the held-out texts, 5 to a prompt, and answers 0/1 for each (delphi's judge), beside the "
        "simulation's answers: 2 x ceil(texts / 5) more calls per explanation scored (4 with an LLM's default 10 held-out "
        "records), each about the size of a 5-record simulation prompt, journaled so a rerun is free; auto = llm for "
        "`score` with an LLM backend, builtin elsewhere (refine, sweep and explain ask an LLM only when told).")
    explain_digest: bool = Field(
        True, description="The LLM explainer's prompt also sums up its records: the tokens the neuron responds to most, "
        "how often each fires, and the tokens just before its strong responses (tools/records/token_digest.py). Off, "
        "the prompt is the reference shape alone. The LLM reviser's refits always carry it; the builtin explainer ignores it.")
    explain_output_hint: bool = Field(
        False, description="Tell the LLM explainer the top tokens the neuron's output weights promote (its vocabulary "
        "projection) in one extra prompt line: a hint about what it does, for a description of what it responds to. "
        "The builtin explainer ignores it.")

    # Refinement loop
    run: str = Field("default", description="Run name: outputs go to RUNS_DIR/RUN; rerunning a command on the same run resumes it.")
    new_run: bool = Field(
        False, description="Start a new run instead of resuming RUN: the first free name of RUN-2, RUN-3, ... "
        "(a run is resumed only with the settings it was made with).")
    max_iters: int = Field(6, ge=0, description="Probe-and-revise rounds per neuron at most.")
    epsilon: float = Field(0.01, ge=0, description="Selection-score gain at or below this counts as no improvement.")
    patience: int = Field(3, ge=1, description="Stop after this many rounds in a row without improvement.")
    target: float | None = Field(None, description="Stop a neuron once its selection score reaches this.")
    n_revisions: int = Field(3, ge=1, le=20, description="Revised explanations written per round.")
    probes_per_generator: int = Field(4, ge=0, le=64, description="Probe texts per generator per round.")
    output_side: bool = Field(True, description="At the end of each neuron, read what it does to the output (the top tokens "
                              "it promotes and suppresses, and the effect of zeroing and doubling it on its top records); "
                              "subjects without weights (the planted bench) have none.")

    # Budgets (dollars, tokens, wall time); unset = unlimited
    budget_usd: float | None = Field(None, ge=0, description="Dollars for the whole command (all neurons).")
    budget_tokens: int | None = Field(None, ge=0, description="LLM tokens for the whole command.")
    budget_hours: float | None = Field(None, gt=0, description="Wall-time hours for the whole command.")
    per_neuron_usd: float | None = Field(None, ge=0, description="Dollars per neuron.")
    per_neuron_tokens: int | None = Field(None, ge=0, description="LLM tokens per neuron.")
    per_neuron_minutes: float | None = Field(None, gt=0, description="Active wall-time minutes per neuron: the loop stops early enough for "
                                              "the held-out score, whose time is kept back as measured on the one-shot round.")

    # Sweeps
    concurrency: int = Field(4, ge=1, le=256, description="Neurons refined at once in a sweep.")
    executor: Literal["inprocess", "ray"] = Field("inprocess", description="Where sweep neurons run: this process, or a Ray cluster.")
    ray_address: str | None = Field(None, description="Ray cluster address (e.g. ray://head:10001 or auto); unset = a local Ray.")
    subject_process: bool = Field(
        False, description="Run the subject model's forwards and sampling in a child process, on a second copy of its weights: "
        "with many neurons in flight the sweep's own work keeps a core (in-process executor).")

    # LLM endpoint
    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1; unset = OpenAI.")
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "REFINERY_LLM_API_KEY"),
        description="API key, read from OPENAI_API_KEY; never logged or written anywhere.")
    llm_explainer_model: str = Field("gpt-4o-mini", description="Model that writes and revises explanations.")
    llm_simulator_model: str = Field("gpt-4o-mini", description="Model that simulates activations from an explanation.")
    llm_timeout_s: float = Field(60.0, gt=0, description="Seconds before one LLM attempt times out.")
    llm_max_retries: int = Field(5, ge=0, description="Retries of a failed LLM call (429, 5xx, timeouts) before giving up.")
    llm_concurrency: int = Field(8, ge=1, description="LLM requests in flight at once.")
    llm_rpm: float | None = Field(None, gt=0, description="Cap on LLM requests per minute.")
    llm_prices: Path | None = Field(None, description="JSON file {model: [usd_per_1M_prompt, usd_per_1M_completion]}; local servers cost $0.")
    llm_prompt_logprobs: bool = Field(False, description="The server returns prompt logprobs (vLLM): enables the reference prompt-logprob simulator (always on for --backend local).")
    llm_prompt_logprob_offsets: bool = Field(
        False, description="The server is neuron-refinery's local server (`refinery serve-local`), which scores only "
        "the prompt tokens the simulator reads (always on for --backend local).")
    llm_prompt_logprobs_shifted: bool = Field(
        False, description="The server's echoed prompt logprobs are one token off, each token with the next one's "
        "(llama-cpp-python's own server): the client realigns them. Not for `refinery serve-local`, whose are aligned.")

    # The local backend (llama.cpp in a loopback server)
    local_gguf: Path | None = Field(
        None, description="GGUF chat model that --backend local serves for every role (explainer, prober, reviser, "
        "simulator); unset = SmolLM2-135M-Instruct, which exercises the plumbing but writes no useful explanations.")
    local_threads: int | None = Field(None, ge=1, description="CPU threads of the local server; unset = all cores.")
    local_n_ctx: int = Field(8192, ge=512, description="Context window of the local server, tokens.")

    # Output and logging
    runs_dir: Path = Field(Path("runs"), description="Where runs, reports and benchmark results are written.")
    view_port: int = Field(8765, ge=0, le=65535, description="Port of `refinery view` on 127.0.0.1 (0: any free port).")
    log_level: Literal["debug", "info", "warning", "error"] = Field("warning", description="Log level for stderr.")
    log_json: bool = Field(False, description="Logs as JSON lines (for machines) instead of console text.")

    # Explanation quality
    max_explanation_words: int = Field(
        30, ge=3, le=200, description="Longest explanation, in words, that any explainer or reviser may write "
                                      "(LLM answers over it are cut at a clause boundary).")
    adopt_confidence: float = Field(
        0.95, ge=0.5, lt=1.0, description="A revision is adopted only when a paired bootstrap over the selection records "
                                          "gives it at least this probability of beating the current explanation.")

    # Sweep triage: the free builtin explanation first, paid work only where it falls short
    triage: Literal["auto", "builtin", "none"] = Field(
        "auto", description="Before paying an LLM, score every neuron's free builtin explanation (selection split): those at "
        "or above --target are finished without an LLM, the rest refined worst first; auto = builtin with an LLM backend "
        "and no --from, else none.")

    # Devices (subject forwards and the records pass)
    device: str = Field("auto", description="Where the subject model runs: auto (CUDA, then Apple MPS, else CPU), cpu, cuda, cuda:N or mps.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="The subject's precision: auto = float32 on the CPU, bfloat16 on a GPU; activations are float32 either way, "
        "and records directories stay in one dtype.")

    @model_validator(mode="after")
    def _split_size(self) -> Settings:
        # Resolved here, so the run's saved config says how many records each split held.
        if self.records_per_split is None and self.simulates_with_llm():
            self.records_per_split = LLM_RECORDS_PER_SPLIT
        return self

    def simulates_with_llm(self) -> bool:
        """Whether an LLM simulates (`--backend auto` means an LLM when an endpoint or key is set)."""
        if self.simulator == "builtin":
            return False
        llm_backend = self.backend in ("llm", "local") or (
            self.backend == "auto" and (self.llm_base_url is not None or self.llm_api_key is not None))
        return llm_backend or self.simulator != "auto"

    @field_validator("cache_dir", "model_path", "records", "runs_dir", "local_gguf", mode="after")
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

    def resolved_run(self) -> Settings:
        """These settings with `--new-run` turned into the run name it picks."""
        if not self.new_run:
            return self
        from agent.runstore import fresh_run_name

        return self.model_copy(update={"run": fresh_run_name(self.runs_dir, self.run), "new_run": False})

    def public_dump(self) -> dict[str, Any]:
        """The resolved settings, JSON-ready, with secrets left out (saved into run folders)."""
        return self.model_dump(mode="json", exclude={"llm_api_key"})


def prompt_logprobs_supported(settings: Settings) -> bool:
    """Whether the endpoint returns prompt logprobs: when the user says so (vLLM), and always for
    neuron-refinery's local server (--backend local, or `refinery serve-local` at --llm-base-url)."""
    return settings.llm_prompt_logprobs or settings.llm_prompt_logprob_offsets or settings.backend == "local"
