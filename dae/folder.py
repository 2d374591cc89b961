"""A run's output folder: checked, locked for one run, cleaned of a killed save's leftovers.

``.dae-lock`` holds the running process's id (and host, start time, command),
so a second run on the folder is refused while the first lives; a lock whose
process is gone is taken over.
"""
import contextlib
import json
import os
import socket
import time
from pathlib import Path

LOCK = ".dae-lock"


class SessionError(ValueError):
    """A run cannot start or resume as asked (a folder it cannot use, no checkpoint, a
    config that differs...); ``str()`` is one line."""


class OutputFolder:
    """``OutputFolder(path, command, report)``: open it with :meth:`open`, end with :meth:`release`.

    ``command`` (str) is what the lock says is running; ``report(line)`` hears what was
    cleaned up or taken over.
    """

    def __init__(self, path, command, report):
        self.path, self.command, self.report = Path(path), command, report
        self._lock, self._created = None, False

    def open(self):
        """Check the folder can be written, lock it, remove what killed saves left."""
        folder = self.path
        if folder.exists() and not folder.is_dir():
            raise SessionError(f"--output-dir {folder} is a file, not a folder; pass a folder "
                              "(it is created if missing)")
        self._created = not folder.exists()  # removed again if the run writes nothing
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        except PermissionError:
            raise SessionError(f"cannot write into {folder}: permission denied; pass an --output-dir "
                              "you can write to") from None
        except OSError as exc:
            raise SessionError(f"cannot write into {folder}: {exc.strerror or exc}; pass another "
                              "--output-dir") from None
        removed = [p for p in folder.glob(".*.tmp") if p.is_file()]
        for path in removed:
            with contextlib.suppress(OSError):
                path.unlink()
        if removed:
            self.report(f"removed {len(removed)} temporary file{'s' * (len(removed) != 1)} an "
                        f"interrupted save left in {folder}")
        return self

    def _take_lock(self):
        """Create ``.dae-lock`` holding this process's id, or refuse: one run per folder.

        The lock is written whole under another name and hard-linked into place,
        so no run ever reads a half-written lock; a lock whose process is gone
        (or that cannot be read) is taken over.
        """
        path = self.path / LOCK
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                "command": self.command}
        draft = self.path / f"{LOCK}.{os.getpid()}"
        draft.write_text(json.dumps(mine))
        try:
            for attempt in range(2):
                try:
                    os.link(draft, path)
                except FileExistsError:
                    holder = _read_lock(path)
                    if attempt == 0 and not _alive(holder):
                        with contextlib.suppress(FileNotFoundError):
                            path.unlink()
                        who = f"process {holder['pid']}" if holder else "an unreadable lock"
                        self.report(f"took over the lock of {self.path}: {who} is gone")
                        continue
                    who = "another process" if holder is None else (
                        f"process {holder['pid']}, '{holder['command']}', started "
                        f"{time.strftime('%H:%M:%S', time.localtime(holder['started']))}")
                    raise SessionError(f"{self.path} is in use by another run ({who}); wait "
                                      "for it to end, or pass another --output-dir") from None
                self._lock = path
                return
        finally:
            draft.unlink()

    def release(self):
        """Remove the lock (if still ours); a folder this run created and left empty goes too."""
        if self._lock is not None:
            if (_read_lock(self._lock) or {}).get("pid") == os.getpid():
                with contextlib.suppress(OSError):
                    self._lock.unlink()
            self._lock = None
            if self._created:
                with contextlib.suppress(OSError):
                    self.path.rmdir()  # only if empty


def _read_lock(path):
    try:
        holder = json.loads(Path(path).read_text())
        return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def _alive(holder):
    """Whether the process holding a lock still runs (on another host: assume so)."""
    if holder is None:
        return False
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
