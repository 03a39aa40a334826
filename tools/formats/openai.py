"""OpenAI's released file formats (automated-interpretability), read tolerantly and written exactly.

Readers accept what the released GPT-2 files contain: objects with or without `dataclass_name`,
`null` or the string `"nan"` for undefined scores, and extra fields. Writers emit `dataclass_name`
first in every object, `null` for undefined scores, and never NaN.

Units: `ActivationRecord.activations` and `ScoredSequenceSimulation.true_activations` are raw neuron
values (post-nonlinearity, never normalized). `SequenceSimulation.expected_activations` are in the
unit named by its `activation_scale`.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tools.atomic import atomic_write_bytes
from tools.errors import RecordFileError


class _OpenAIObject(BaseModel):
    """Base: extra fields are kept (and written back), `dataclass_name` is added on dump."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_openai(self) -> dict[str, Any]:
        return _model_with_names(self)


_PLAIN = (str, int, bool, type(None))
"""Exact types written as they are (a StrEnum is a str subclass, so `type(v) in` leaves it out)."""


def _model_with_names(obj: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {"dataclass_name": type(obj).__name__}
    data = dict(obj)
    data.update(obj.model_extra or {})
    for key, value in data.items():
        if key == "dataclass_name" or (value is None and key in _OPTIONAL_EXTRAS):
            continue
        # The common cases inline: this runs for every field of every record of a file.
        out[key] = value if type(value) in _PLAIN else _with_dataclass_names(value)
    return out


def _with_dataclass_names(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return _model_with_names(obj)
    if isinstance(obj, list):
        # Lists of numbers or strings are returned as they are: numbers were checked on the way in.
        if obj and isinstance(obj[0], (BaseModel, list)):
            return [_with_dataclass_names(item) for item in obj]
        return obj
    if isinstance(obj, StrEnum):
        return obj.value
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _undefined_to_none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in {"nan", "null", "none", ""}:
        return None
    if isinstance(value, (int, float)) and not math.isfinite(float(value)):
        return None
    return value


Score = Annotated[float | None, BeforeValidator(_undefined_to_none)]
"""One of the reference's scores of a simulation; undefined ones (NaN, "nan", null in its files) read as None."""


def _check_finite(values: list[float], field: str) -> list[float]:
    if all(map(math.isfinite, values)):  # the common case, without a Python-level loop
        return values
    for i, value in enumerate(values):
        if not math.isfinite(value):
            raise ValueError(f"{field}[{i}] is {value!r}: activations must be finite numbers")
    return values


class ActivationScale(StrEnum):
    NEURON_ACTIVATIONS = "neuron_activations"
    """Values are real activations of the neuron (e.g. after calibration)."""
    SIMULATED_NORMALIZED_ACTIVATIONS = "simulated_normalized_activations"
    """Values are simulated activations on the arbitrary 0-10 scale."""


class ActivationRecord(_OpenAIObject):
    """One text excerpt and a neuron's raw activation at each of its tokens."""

    tokens: list[str]
    activations: list[float] = Field(description="Raw neuron values, one per token (not normalized).")
    token_ids: list[int] | None = Field(default=None, description="Subject-tokenizer ids (our extra field).")
    excerpt_index: int | None = Field(default=None, description="Index of the excerpt in its corpus (our extra field).")

    @field_validator("activations", mode="before")
    @classmethod
    def _activations_are_numbers(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [float("nan") if isinstance(v, str) and v.lower() == "nan" else v for v in value]
        return value

    @model_validator(mode="after")
    def _lengths_match(self) -> Self:
        _check_finite(self.activations, "activations")
        if len(self.tokens) != len(self.activations):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.activations)} activations")
        if self.token_ids is not None and len(self.token_ids) != len(self.tokens):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.token_ids)} token_ids")
        return self

    @property
    def max_activation(self) -> float:
        return max(self.activations) if self.activations else float("-inf")


class NeuronId(_OpenAIObject):
    layer_index: int
    neuron_index: int


class RecordProvenance(BaseModel):
    """What a NeuronRecord was built from (our extra field `provenance`)."""

    model_id: str
    corpus_id: str
    corpus_sha256: str
    excerpt_tokens: int
    prepend_bos: bool
    n_excerpts: int
    seed: int
    device: str | None = Field(None, description="torch device whose forwards produced the activations, e.g. 'cpu', 'cuda:0'.")
    dtype: str | None = Field(None, description="The subject's dtype in those forwards (activations are stored as float32 either way).")


class NeuronRecord(_OpenAIObject):
    """Per-neuron activation data: top and random excerpts, quantile samples, moments (raw units)."""

    neuron_id: NeuronId
    random_sample: list[ActivationRecord] = Field(default_factory=list)
    random_sample_by_quantile: list[list[ActivationRecord]] | None = None
    quantile_boundaries: list[float] | None = None
    mean: float | None = None
    variance: float | None = None
    skewness: float | None = None
    kurtosis: float | None = Field(default=None, description="Excess (Fisher) kurtosis over all tokens.")
    most_positive_activation_records: list[ActivationRecord] = Field(default_factory=list)
    provenance: RecordProvenance | None = None

    @field_validator("mean", "variance", "skewness", "kurtosis", mode="before")
    @classmethod
    def _undefined_moments(cls, value: Any) -> Any:
        return _undefined_to_none(value)

    @property
    def max_activation(self) -> float:
        return max(r.max_activation for r in self.most_positive_activation_records)


class SequenceSimulation(_OpenAIObject):
    tokens: list[str]
    expected_activations: list[float] = Field(description="Per-token expected value, in `activation_scale` units.")
    activation_scale: ActivationScale
    distribution_values: list[list[float]] = Field(default_factory=list)
    distribution_probabilities: list[list[float]] = Field(default_factory=list)
    uncalibrated_simulation: SequenceSimulation | None = None


class ScoredSequenceSimulation(_OpenAIObject):
    simulation: SequenceSimulation
    true_activations: list[float] = Field(description="Raw neuron values (not normalized).")
    ev_correlation_score: Score = None
    rsquared_score: Score = None
    absolute_dev_explained_score: Score = None


class ScoredSimulation(_OpenAIObject):
    scored_sequence_simulations: list[ScoredSequenceSimulation]
    ev_correlation_score: Score = None
    rsquared_score: Score = None
    absolute_dev_explained_score: Score = None


class ScoredExplanation(_OpenAIObject):
    explanation: str
    scored_simulation: ScoredSimulation

    @property
    def preferred_score(self) -> float | None:
        return self.scored_simulation.ev_correlation_score


class NeuronSimulationResults(_OpenAIObject):
    neuron_id: NeuronId
    scored_explanations: list[ScoredExplanation]


# Our optional extras are left out of written files when unset, so a file read from OpenAI's
# release is written back with exactly its own fields.
_OPTIONAL_EXTRAS = {"token_ids", "excerpt_index", "provenance"}

_TOP_LEVEL: dict[str, type[_OpenAIObject]] = {
    "NeuronRecord": NeuronRecord,
    "NeuronSimulationResults": NeuronSimulationResults,
}
# Fields that identify a top-level object when `dataclass_name` is missing.
_SIGNATURES: dict[str, set[str]] = {
    "NeuronRecord": {"neuron_id", "most_positive_activation_records"},
    "NeuronSimulationResults": {"neuron_id", "scored_explanations"},
}


def _strip_dataclass_names(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_dataclass_names(v) if isinstance(v, (dict, list)) else v
                for k, v in obj.items() if k != "dataclass_name"}
    if isinstance(obj, list) and obj and isinstance(obj[0], (dict, list)):
        return [_strip_dataclass_names(v) for v in obj]
    return obj  # scalars, and lists of them (tokens, activations): nothing inside to strip


def _nan_constant(name: str) -> float:
    # Python's json accepts the non-standard NaN/Infinity tokens; keep them visible to validation.
    return float(name.replace("Infinity", "inf"))


def _load_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_nan_constant)
    except json.JSONDecodeError as err:
        raise RecordFileError(path, f"not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None


def _first_error_field(err: ValidationError) -> str:
    loc = err.errors()[0]["loc"]
    return ".".join(str(part) for part in loc) if loc else "<root>"


_Parsed = TypeVar("_Parsed", bound=_OpenAIObject)


def parse_object(obj: Any, expected: type[_Parsed], path: Path) -> _Parsed:
    """Validate a decoded JSON object as `expected`, checking `dataclass_name` when present."""
    if not isinstance(obj, dict):
        raise RecordFileError(path, f"expected a JSON object, found {type(obj).__name__}")
    name = obj.get("dataclass_name")
    if name is None:
        missing = _SIGNATURES[expected.__name__] - obj.keys()
        if missing:
            raise RecordFileError(path, f"not a {expected.__name__}: missing {sorted(missing)}")
    elif name != expected.__name__:
        known = ", ".join(sorted(_TOP_LEVEL))
        raise RecordFileError(
            path, f"dataclass_name {name!r} is not a {expected.__name__} (known top-level: {known})", "dataclass_name"
        )
    try:
        return expected.model_validate(_strip_dataclass_names(obj))
    except ValidationError as err:
        first = err.errors()[0]
        raise RecordFileError(path, first["msg"], _first_error_field(err)) from None


def read_neuron_record(path: Path, max_bytes: int = 256 * 2**20) -> NeuronRecord:
    """Read a `NeuronRecord` JSON file (ours or OpenAI's); errors name the file and the field."""
    text = _read_bounded(path, max_bytes)
    return parse_object(_load_json(path, text), NeuronRecord, path)


def read_simulation_results(path: Path, max_bytes: int = 64 * 2**20) -> NeuronSimulationResults:
    """Read a `NeuronSimulationResults` `.jsonl` file, which holds exactly one non-empty line."""
    text = _read_bounded(path, max_bytes)
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise RecordFileError(path, f"expected exactly one JSON line, found {len(lines)}")
    return parse_object(_load_json(path, lines[0]), NeuronSimulationResults, path)


def _read_bounded(path: Path, max_bytes: int) -> str:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise RecordFileError(path, f"cannot read: {err.strerror}") from None
    if size > max_bytes:
        raise RecordFileError(path, f"file is {size / 2**20:.0f} MiB, more than the {max_bytes / 2**20:.0f} MiB limit")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RecordFileError(path, "not UTF-8 text") from None
    except OSError as err:
        raise RecordFileError(path, f"cannot read: {err.strerror}") from None


def dumps_bytes(obj: _OpenAIObject) -> bytes:
    """One-line UTF-8 JSON in OpenAI's layout (dataclass_name first, null for undefined scores).

    orjson writes a non-finite float as null, which is what undefined means in these files."""
    return orjson.dumps(obj.to_openai())


def dumps(obj: _OpenAIObject) -> str:
    return dumps_bytes(obj).decode("utf-8")


def write_neuron_record(path: Path, record: NeuronRecord) -> None:
    atomic_write_bytes(path, dumps_bytes(record) + b"\n")


def write_simulation_results(path: Path, results: NeuronSimulationResults) -> None:
    atomic_write_bytes(path, dumps_bytes(results) + b"\n")


def neuron_file(base: Path, layer: int, neuron: int, suffix: str) -> Path:
    """`{base}/{layer}/{neuron}{suffix}`: the released layout."""
    return base / str(layer) / f"{neuron}{suffix}"
