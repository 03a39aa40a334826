"""A directory of NeuronRecords in OpenAI's layout, `{root}/{layer}/{neuron}.json`, plus our manifest.

The manifest says what the records were built from; building into a directory made from another
model, corpus or setting is refused instead of silently mixing records. Directories without a
manifest (OpenAI's released files) can be read, not extended.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from tools.atomic import atomic_write_json
from tools.errors import BadInputError, RecordFileError
from tools.formats.openai import NeuronRecord, neuron_file, read_neuron_record, write_neuron_record


class RecordsManifest(BaseModel):
    """The identity of a records directory: every field must match to add records to it."""

    model_id: str
    tokenizer_sha256: str
    corpus_id: str
    corpus_sha256: str
    excerpt_tokens: int
    n_excerpts: int
    prepend_bos: bool
    top_k: int
    n_random: int
    n_per_quantile: int
    seed: int
    dtype: str = Field("float32", description="The subject's dtype in the forwards (manifests from before this field were float32).")


class RecordStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> RecordsManifest | None:
        if not self.manifest_path.is_file():
            return None
        try:
            return RecordsManifest.model_validate_json(self.manifest_path.read_text())
        except ValidationError as err:
            raise RecordFileError(self.manifest_path, f"malformed records manifest: {err.errors()[0]['msg']}") from None

    def dtype_for(self, requested: str) -> str:
        """The subject dtype to build with: `auto` continues a directory in the dtype it was built in."""
        existing = self.manifest() if requested == "auto" else None
        return existing.dtype if existing is not None else requested

    def claim(self, manifest: RecordsManifest, building: bool = True) -> None:
        """Write the manifest, or check it matches the one already there.

        Records computed in another dtype are other records (bfloat16 rounds every activation, and
        so can reorder the top excerpts): a directory is never extended in a second dtype. Reading
        its finished records is fine in any dtype, so with nothing to build (`building=False`) the
        dtype is not compared.
        """
        existing = self.manifest()
        if existing is None:
            atomic_write_json(self.manifest_path, manifest.model_dump(), indent=2)
            return
        diff = {k: (getattr(existing, k), v) for k, v in manifest.model_dump().items()
                if getattr(existing, k) != v and (building or k != "dtype")}
        if diff:
            shown = "; ".join(f"{k}: has {a!r}, asked {b!r}" for k, (a, b) in diff.items())
            fix = (f" To add records to it, pass --dtype {existing.dtype}; otherwise use" if set(diff) == {"dtype"}
                   else " Use")
            raise BadInputError(
                f"{self.root} holds records built differently ({shown}).{fix} another --records/--out directory "
                "or delete this one."
            )

    def path(self, layer: int, neuron: int) -> Path:
        return neuron_file(self.root, layer, neuron, ".json")

    def has(self, layer: int, neuron: int) -> bool:
        return self.path(layer, neuron).is_file()

    def read(self, layer: int, neuron: int) -> NeuronRecord:
        path = self.path(layer, neuron)
        if not path.is_file():
            raise RecordFileError(path, "no record for this neuron (build it with `refinery records`)")
        record = read_neuron_record(path)
        if (record.neuron_id.layer_index, record.neuron_id.neuron_index) != (layer, neuron):
            nid = record.neuron_id
            raise RecordFileError(path, f"holds neuron {nid.layer_index}/{nid.neuron_index}, not {layer}/{neuron}", "neuron_id")
        return record

    def write(self, record: NeuronRecord) -> Path:
        path = self.path(record.neuron_id.layer_index, record.neuron_id.neuron_index)
        write_neuron_record(path, record)
        return path

    def neurons(self, layer: int) -> list[int]:
        directory = self.root / str(layer)
        if not directory.is_dir():
            return []
        return sorted(int(p.stem) for p in directory.glob("*.json") if p.stem.isdigit())

    def layers(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(p.name) for p in self.root.iterdir() if p.is_dir() and p.name.isdigit())

    def describe(self) -> dict[str, object]:
        manifest = self.manifest()
        return {
            "root": str(self.root),
            "manifest": json.loads(manifest.model_dump_json()) if manifest else None,
            "layers": {layer: len(self.neurons(layer)) for layer in self.layers()},
        }
