"""Which upload sources the service may open: regular files that resolve inside the configured
source roots (``Settings.source_roots``), nothing else.

The API checks a source when it is registered and the worker checks it again right before it
opens the file (a symlink can be replaced after registration). A refusal never says whether
something exists at the path: ``/etc/shadow`` and ``/etc/no-such-file`` get the same answer.
Inside the roots the answers may differ (a directory, a FIFO, a missing file), because whoever
may write there already knows what is there.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from moderation.errors import DanglingSymlink, InputError, NotAFile, SourceMissing, SourceRefused

# Anything that starts like a URL (file://, http:, javascript:, s3://...): the worker reads
# local files only, and FFmpeg would follow a URL wherever it points.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SHOWN_CHARS = 200

REFUSED = "is not a file under the upload folders; only those are scanned"


def check_source(source: str, roots: Sequence[Path]) -> Path:
    """The resolved path of ``source`` when it may be registered; ``SourceRefused`` otherwise
    (a URL, a relative path, control characters, outside every root after ``..`` and symlinks
    are resolved), ``NotAFile`` for something in a root that is not a regular file."""
    shown = shown_source(source)
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        raise SourceRefused(shown, "is not valid UTF-8 text") from None
    if _CONTROL.search(source):
        raise SourceRefused(shown, "contains control characters")
    if _SCHEME.match(source):
        raise SourceRefused(shown, "is a URL; only files under the upload folders are scanned")
    if not source.startswith("/") or source.startswith("//"):
        raise SourceRefused(shown, "must be an absolute file path")
    resolved = Path(os.path.realpath(source))
    if not any(resolved.is_relative_to(root) and resolved != root
               for root in resolved_roots(roots)):
        raise SourceRefused(shown, REFUSED)
    try:
        mode = os.stat(resolved).st_mode
    except OSError:
        return resolved  # not there (yet): the worker decides whether it arrives
    _require_regular(shown, mode)
    return resolved


def open_source(source: str, roots: Sequence[Path]) -> Path:
    """What the worker may hand to the decoder: ``check_source`` again, and the file must be
    there. ``SourceMissing`` (worth a retry: the upload may still be arriving) or
    ``DanglingSymlink`` when it is not."""
    resolved = check_source(source, roots)
    try:
        mode = os.stat(resolved).st_mode
    except FileNotFoundError:
        if os.path.lexists(source):  # the name is there, what it points to is not
            raise DanglingSymlink(shown_source(source), "is a symbolic link to a file that "
                                  "does not exist") from None
        raise SourceMissing(shown_source(source)) from None
    except OSError as exc:
        raise NotAFile(shown_source(source), f"cannot be read ({exc.strerror or exc})") from None
    _require_regular(shown_source(source), mode)
    return resolved


def enrolment_files(sources: Sequence[str | Path], roots: Sequence[Path]) -> list[Path]:
    """An enrolment's photos and videos checked again right before the worker reads them, as a
    scan's source is (a symlink may have changed since the API accepted them). A missing file
    is final here: an enrolment is not retried, it fails with the reason."""
    checked = []
    for source in sources:
        try:
            checked.append(open_source(str(source), roots))
        except SourceMissing:
            raise InputError(shown_source(str(source)), "is not there: nothing to enrol") \
                from None
    return checked


@contextmanager
def opened_source(source: str, roots: Sequence[Path]) -> Iterator[Path]:
    """``open_source``, then the file opened once (not through a symlink at its last step, not
    waiting on a FIFO) and what was opened checked again: the decoder reads it through
    ``/proc/self/fd/N``, so a symlink or folder swapped in between the check and the decoder's
    own opens cannot send it elsewhere. Without ``/proc`` the checked path itself."""
    resolved = open_source(source, roots)
    descriptors = Path("/proc/self/fd")
    if not descriptors.is_dir():
        yield resolved
        return
    shown = shown_source(source)
    try:
        fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SourceMissing(shown) from None
    except OSError:  # ELOOP: it became a symlink after the check
        raise SourceRefused(shown, REFUSED) from None
    try:
        _require_regular(shown, os.fstat(fd).st_mode)
        opened = Path(os.readlink(descriptors / str(fd)))
        if not any(opened.is_relative_to(root) and opened != root
                   for root in resolved_roots(roots)):
            raise SourceRefused(shown, REFUSED)
        yield descriptors / str(fd)
    finally:
        os.close(fd)


def resolved_roots(roots: Sequence[Path]) -> list[Path]:
    return [Path(os.path.realpath(root)) for root in roots]


def file_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def shown_source(source: str) -> str:
    """The source as messages show it: short, with odd characters escaped."""
    text = source if source.isprintable() else ascii(source)[1:-1]
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def _require_regular(shown: str, mode: int) -> None:
    kind = file_kind(mode)
    if kind is not None:
        raise NotAFile(shown, f"is {kind}, not a regular file")
