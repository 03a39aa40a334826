"""`--subject-process`: the sweep's subject forwards and sampling in a child process (see `tools.subject.process`)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import structlog

from agent.logs import configure_logging
from agent.settings import Settings
from tools.subject.base import SubjectModel
from tools.subject.process import SubjectProcess
from tools.subject.registry import load_subject

log = structlog.get_logger(__name__)


def load_in_child(name: str, model_path: Path | None, cache_dir: Path, allow_hub: bool, device: str, dtype: str) -> SubjectModel:
    """The child's subject: the parent's model on the parent's (resolved) device and dtype."""
    configure_logging("warning")  # the child is an entry point of its own; the parent reports the start
    return load_subject(name, model_path, cache_dir, allow_hub, device, dtype)


def start_subject_process(settings: Settings, local: SubjectModel) -> SubjectProcess:
    """Start loading the child's copy of `local` now; it serves forwards once `wait_ready()` returns."""
    info = local.info
    child = SubjectProcess(local, partial(load_in_child, settings.model, settings.model_path, settings.cache_dir,
                                          settings.allow_hub, info.device, info.dtype))
    log.info("subject_process_started", pid=child.pid, model=info.model_id, device=info.device, dtype=info.dtype)
    return child
