from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.runstore import RunInUseError, RunStore


def test_a_second_process_on_the_same_run_is_refused(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from agent.runstore import RunStore
        with RunStore(Path({str(tmp_path)!r}), "r").exclusive():
            print("locked", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunInUseError, match=f"in use by another refinery process \\(pid {holder.pid}\\)"), \
                RunStore(tmp_path, "r").exclusive():
            pass
    finally:
        holder.kill()
        holder.wait()
    # The lock died with its holder: no stale lock after a kill.
    with RunStore(tmp_path, "r").exclusive():
        pass
