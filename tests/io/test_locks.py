"""The cross-process lock: a second holder is refused with the busy sentence, a killed holder frees it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from desktop.io.locks import Busy, exclusive_lock, is_locked

HOLD = textwrap.dedent("""
    import sys, time
    from desktop.io.locks import exclusive_lock
    with exclusive_lock(sys.argv[1], "busy"):
        print("held", flush=True)
        time.sleep(60)
""")


def test_second_holder_in_the_same_process_is_refused(tmp_path):
    lock = tmp_path / "x.lock"
    with exclusive_lock(lock, "The project is busy."):
        assert is_locked(lock)
        with pytest.raises(Busy, match=r"The project is busy\."), exclusive_lock(lock, "The project is busy."):
            pass
    assert not is_locked(lock)
    with exclusive_lock(lock, "again"):
        pass


def test_another_process_holds_it_until_killed(tmp_path):
    lock = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Busy), exclusive_lock(lock, "busy", wait_s=0.2):
            pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive_lock(lock, "free after the holder died"):
        pass
