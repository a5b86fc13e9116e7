"""Lock files that say who holds them: one writer per folder.

A lock file holds the owner's host, pid and process start time (and what it is doing). A lock whose
process no longer runs on this host is stale and taken over; a lock from another host cannot be
checked from here, so it is refused with a message naming the file to delete once that run is known
to be gone.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockedError(RuntimeError):
    """The folder is held by another live process; the message names it."""


def _start_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None if it does not run."""
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except ImportError:  # without psutil: existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return 0.0
        return 0.0
    except Exception:  # noqa: BLE001 - psutil.NoSuchProcess and its kin: not running
        return None


def holder(lock: Path) -> dict | None:
    """What a lock file says of its holder, or None when there is none."""
    try:
        text = lock.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return json.loads(text)
    except ValueError:  # an older plain `host pid` lock
        host, _, pid = text.partition(" ")
        return {"host": host, "pid": int(pid) if pid.isdigit() else None}


def is_stale(owner: dict) -> bool:
    """A lock of a process that no longer runs on this host (or a reused pid that started later)."""
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    started = _start_time(owner["pid"])
    if started is None:
        return True
    recorded = owner.get("started")
    return bool(recorded and started and started > recorded + 1)


def is_live(lock: Path) -> bool:
    """Whether `lock` is held by a process that may still run."""
    owner = holder(lock)
    return owner is not None and not is_stale(owner)


def acquire(lock: Path, what: str, *, describe: str = "") -> dict:
    """Create `lock` for this process; take over a stale one; raise LockedError naming a live holder.
    `what` names the locked thing in the message, `describe` what the holder does (e.g. training)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": _start_time(os.getpid()),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        "what": describe,
    }
    while True:
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = holder(lock)
            if owner is None:
                continue  # released meanwhile
            if is_stale(owner):
                lock.unlink(missing_ok=True)
                continue
            since = f" since {owner['since']}" if owner.get("since") else ""
            raise LockedError(
                f"{what} is in use by another {owner.get('what') or describe or 'process'} (pid {owner.get('pid')} on "
                f"{owner.get('host')}{since}); wait for it or stop it (kill {owner.get('pid')}); if it is gone, "
                f"delete {lock}"
            ) from None
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
        return me


def release(lock: Path) -> None:
    """Remove `lock` if this process holds it."""
    owner = holder(lock)
    if owner and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        lock.unlink(missing_ok=True)


@contextmanager
def held(lock: Path, what: str, *, describe: str = "") -> Iterator[None]:
    """`acquire` for the duration of a block."""
    acquire(lock, what, describe=describe)
    try:
        yield
    finally:
        release(lock)
