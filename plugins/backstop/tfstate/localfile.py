"""Where a restored state may be written on the worker: only inside the restore root.

A state holds secrets, and `local_path` comes from the restore form, typed by whoever may
trigger the DAG. Before, any path was opened with O_TRUNC: an existing file outside the
project (a key file, a config) was overwritten with the state and the run succeeded, and a
relative path landed in whatever the worker's current directory was. Now, on the safe side:

- every write lands inside one folder, the restore root (`terraform_state.restore_root`);
  a relative `local_path` is relative to it, an absolute one must already be inside it;
- `..` anywhere in `local_path` is refused outright (not normalised away: a path that
  tries to climb is a mistake or an attack, and either way should be looked at);
- no component below the root may be a symlink: folders are opened one by one relative to
  the previous one with O_NOFOLLOW (openat), so a link planted in the root, even between the
  check and the write, cannot send the state elsewhere;
- the file is created exclusively (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600): an existing
  file, or a dangling symlink, is never overwritten; folders Backstop creates are 0700;
- a write that fails part-way removes its partial file.

The root itself is trusted configuration (the policy, reviewed like code): it must be
absolute without `..` (checked when the policy loads) and may itself be reached through a
symlink (AIRFLOW_HOME often is). It is created (0700) if missing.

**Default root: `$AIRFLOW_HOME/backstop-restore`** on the worker that runs the task, not the
system temp folder. /tmp is shared by every user of the machine and world-writable: another
account can create `/tmp/backstop-restore` first (or a symlink of that name) and then own the
folder the secrets are written into; temp cleaners also delete files under it. AIRFLOW_HOME
belongs to the Airflow user and exists on every worker (Astro: /usr/local/airflow). With
several workers the file is on the one that ran `write_local` (its hostname is in the log).
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from backstop.tfstate.common import UnsafeRestorePathError

ROOT_FOLDER = "backstop-restore"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def default_restore_root() -> Path:
    """`$AIRFLOW_HOME/backstop-restore` (Airflow's own default home when the variable is unset)."""
    home = os.environ.get("AIRFLOW_HOME")
    if not home:
        try:
            from airflow.configuration import AIRFLOW_HOME as home  # noqa: N811
        except Exception:  # pragma: no cover - airflow is always installed where this runs
            home = str(Path.home() / "airflow")
    return Path(home) / ROOT_FOLDER


def restore_root(configured: str | os.PathLike | None) -> Path:
    root = Path(configured) if configured else default_restore_root()
    if not root.is_absolute() or ".." in root.parts:
        raise UnsafeRestorePathError(f"the restore root {str(root)!r} must be absolute, without '..'")
    return root


@dataclass(frozen=True)
class LocalTarget:
    """A file below the restore root: `root` / `parts`."""

    root: Path
    parts: tuple[str, ...]

    @property
    def path(self) -> Path:
        return self.root.joinpath(*self.parts)


def confine(local_path: str, root: Path, default_parts: Sequence[str]) -> LocalTarget:
    """Where `local_path` (or, when empty, `default_parts`) lands below `root`; refuses escapes.

    Lexical only: symlinks are refused while writing (`write_new_file`), where no check can be
    raced.
    """
    if not local_path:
        parts = tuple(default_parts)
    else:
        if "\x00" in local_path:
            raise UnsafeRestorePathError("local_path contains a NUL character")
        if ".." in local_path.replace("\\", "/").split("/"):
            raise UnsafeRestorePathError(
                f"local_path {local_path!r} contains '..'; give a path inside the restore root {root}"
            )
        given = PurePosixPath(local_path)
        if given.is_absolute():
            relative = _inside(given, root)
            if relative is None:
                raise UnsafeRestorePathError(
                    f"local_path {local_path!r} is outside the restore root {root}; "
                    "give a path relative to the root (or an absolute one inside it)"
                )
            parts = relative.parts
        else:
            parts = given.parts
    if not parts or any(p in ("", ".", "..") for p in parts):
        raise UnsafeRestorePathError(f"local_path {local_path!r} does not name a file below the restore root")
    return LocalTarget(root, tuple(parts))


def _inside(path: PurePosixPath, root: Path) -> PurePosixPath | None:
    for base in (PurePosixPath(root), PurePosixPath(os.path.realpath(root))):
        try:
            return path.relative_to(base)
        except ValueError:
            continue
    return None


def write_new_file(target: LocalTarget, data: bytes) -> bytes:
    """Create `target` (mode 0600) with `data`; returns the bytes read back from the same file.

    Folders below the root are created (0700) or opened one at a time with O_NOFOLLOW relative
    to their parent; the file is created with O_EXCL. Any symlink below the root, or an
    existing file, raises UnsafeRestorePathError and nothing is written.
    """
    try:
        target.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(target.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise UnsafeRestorePathError(
            f"the restore root {target.root} is not a usable folder: {exc.strerror}"
        ) from None
    try:
        walked = target.root
        for name in target.parts[:-1]:
            walked = walked / name
            try:
                os.mkdir(name, 0o700, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise UnsafeRestorePathError(_why_not(exc, walked, fd, name, "folder")) from None
            os.close(fd)
            fd = child
        name = target.parts[-1]
        try:
            out = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=fd)
        except OSError as exc:
            raise UnsafeRestorePathError(_why_not(exc, target.path, fd, name, "file")) from None
        try:
            os.fchmod(out, 0o600)  # exactly 0600, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(out, view) :]
            os.fsync(out)
        except BaseException:
            os.close(out)
            os.unlink(name, dir_fd=fd)
            raise
        os.close(out)
        back = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        with os.fdopen(back, "rb") as handle:
            return handle.read()
    finally:
        os.close(fd)


def _why_not(exc: OSError, path: Path, dir_fd: int, name: str, kind: str) -> str:
    try:
        is_link = stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        is_link = False
    if is_link or exc.errno == errno.ELOOP:
        return f"{path} is a symlink; refused (a link below the restore root could send the state anywhere)"
    if exc.errno == errno.EEXIST:
        return (
            f"{path} already exists; Backstop never overwrites a file with a restored state "
            "(move it away, or choose another local_path)"
        )
    if exc.errno == errno.ENOTDIR:
        return f"{path} is not a folder; cannot write a {kind} below it"
    return f"cannot create {path}: {exc.strerror}"


def worker() -> str:
    """The host the file was written on (with several workers, that is where it is)."""
    return socket.gethostname()
