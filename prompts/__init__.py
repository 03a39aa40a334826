"""Prompt templates as files, rendered by a pure function.

A template file `prompts/NAME.txt` holds one or more messages, each opened by a line
`### system`, `### user` or `### assistant`. Placeholders are `$name` (string.Template), so JSON
and braces in prompts need no escaping; `$$` is a literal dollar. Rendering refuses a missing or
an unused value, so a prompt and its caller cannot drift apart silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Literal

from pydantic import BaseModel

_HEADER = re.compile(r"^### (system|user|assistant)\s*$", re.MULTILINE)


class Message(BaseModel):
    """One chat message: what a template renders to, and what an LLM request carries."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    messages: tuple[tuple[str, Template], ...]

    @property
    def placeholders(self) -> set[str]:
        names: set[str] = set()
        for _, template in self.messages:
            for match in template.pattern.finditer(template.template):
                name = match.group("named") or match.group("braced")
                if name:
                    names.add(name)
        return names

    def render(self, **values: str) -> list[Message]:
        missing = self.placeholders - values.keys()
        unused = values.keys() - self.placeholders
        if missing or unused:
            raise ValueError(f"prompt {self.name!r}: missing {sorted(missing)}, unused {sorted(unused)}")
        return [Message(role=role, content=template.substitute(values)) for role, template in self.messages]  # type: ignore[arg-type]  # _HEADER matches only the three roles


def parse_template(name: str, text: str) -> PromptTemplate:
    parts = _HEADER.split(text)
    if parts[0].strip():
        raise ValueError(f"prompt {name!r}: text before the first '### role' line")
    messages = tuple((role, Template(body.strip("\n"))) for role, body in zip(parts[1::2], parts[2::2], strict=True))
    if not messages:
        raise ValueError(f"prompt {name!r}: no messages")
    return PromptTemplate(name, messages)


@cache
def load(name: str) -> PromptTemplate:
    """The template `prompts/{name}.txt`."""
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return parse_template(name, text)


def available() -> list[str]:
    return sorted(p.name.removesuffix(".txt") for p in resources.files(__package__).iterdir() if p.name.endswith(".txt"))
