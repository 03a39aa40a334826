"""Compare a rendering with its golden file under tests/golden/views/.

Regenerate after an intended change: `REFINERY_UPDATE_GOLDENS=1 .venv/bin/pytest tests/report`, then
review the diff of tests/golden/views/.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent.parent / "golden" / "views"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    if os.environ.get("REFINERY_UPDATE_GOLDENS") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden {path}; run with REFINERY_UPDATE_GOLDENS=1 once and review it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden; see the module docstring"
