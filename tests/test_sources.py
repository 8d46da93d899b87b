"""The source rules on real files, symlinks, FIFOs and devices in a temporary root."""

from __future__ import annotations

import os

import pytest

from moderation.errors import (
    DanglingSymlink,
    InputError,
    NotAFile,
    SourceMissing,
    SourceRefused,
)
from moderation.sources import (
    REFUSED,
    check_source,
    enrolment_files,
    open_source,
    opened_source,
)


@pytest.fixture()
def root(tmp_path):
    root = tmp_path / "uploads"
    root.mkdir()
    (root / "clip.mp4").write_bytes(b"video")
    return root


def test_a_file_in_the_root_resolves(root):
    assert open_source(str(root / "clip.mp4"), [root]) == (root / "clip.mp4").resolve()
    (root / "alias.mp4").symlink_to(root / "clip.mp4")
    assert open_source(str(root / "alias.mp4"), [root]) == (root / "clip.mp4").resolve()
    # The roots are resolved too: a root given through a symlink still holds its files.
    (root.parent / "link-to-root").symlink_to(root, target_is_directory=True)
    assert open_source(str(root / "clip.mp4"), [root.parent / "link-to-root"])


@pytest.mark.parametrize("source", ["/etc/passwd", "/etc/not-there", "/proc/self/environ",
                                    "/dev/zero", "{root}/../../etc/passwd", "{root}",
                                    "{root}/link-out.mp4", "{root}/dangling-out.mp4",
                                    "{root}-sibling/clip.mp4"])
def test_outside_the_roots_is_refused_alike(root, source):
    (root / "link-out.mp4").symlink_to("/etc/passwd")
    (root / "dangling-out.mp4").symlink_to("/etc/not-there")
    for check in (check_source, open_source):
        with pytest.raises(SourceRefused) as refused:
            check(source.format(root=root), [root])
        assert refused.value.problem == REFUSED and refused.value.reason == "source_refused"


@pytest.mark.parametrize("source, problem", [
    ("file:///etc/passwd", "is a URL"), ("HTTP://host/x.mp4", "is a URL"),
    ("javascript:alert(1)", "is a URL"), ("relative/clip.mp4", "must be an absolute"),
    ("//server/share/clip.mp4", "must be an absolute"), ("/a\x00b", "control characters"),
    ("/a\nb.mp4", "control characters"), ("/a\ud800.mp4", "not valid UTF-8")])
def test_urls_and_odd_strings_are_refused(root, source, problem):
    with pytest.raises(SourceRefused, match=problem):
        check_source(source, [root])


def test_what_is_not_a_regular_file_is_named(root):
    (root / "folder").mkdir()
    os.mkfifo(root / "pipe.mp4")
    (root / "dangling.mp4").symlink_to(root / "gone.mp4")
    with pytest.raises(NotAFile, match="is a directory"):
        open_source(str(root / "folder"), [root])
    with pytest.raises(NotAFile, match=r"is a named pipe \(FIFO\)"):
        check_source(str(root / "pipe.mp4"), [root])
    with pytest.raises(DanglingSymlink, match="symbolic link to a file that does not exist"):
        open_source(str(root / "dangling.mp4"), [root])
    # Registering a file that has not arrived yet is fine; opening it is a retryable fault.
    assert check_source(str(root / "later.mp4"), [root]) == root.resolve() / "later.mp4"
    with pytest.raises(SourceMissing, match=r"later\.mp4: no such file"):
        open_source(str(root / "later.mp4"), [root])


def test_long_hostile_sources_are_shortened_in_messages(root):
    with pytest.raises(SourceRefused) as refused:
        check_source("/etc/" + "\u202e" * 500, [root])
    assert len(str(refused.value)) < 400 and "\u202e" not in str(refused.value)


def test_the_decoder_reads_the_file_that_was_checked(root):
    """The check and the decoder's opens are apart in time: a symlink swapped in after the file
    was opened and checked cannot redirect the reads."""
    clip = root / "clip.mp4"
    with opened_source(str(clip), [root]) as path:
        assert path != clip and path.read_bytes() == b"video"
        clip.unlink()
        clip.symlink_to("/etc/passwd")  # swapped in under the checked name
        assert path.read_bytes() == b"video"
        assert open(path, "rb").read() == b"video"  # a fresh open, as FFmpeg makes one


def test_a_symlink_swapped_in_between_the_check_and_the_open_is_refused(root, monkeypatch):
    import moderation.sources as sources

    clip = root / "clip.mp4"
    checked = sources.open_source

    def check_then_swap(source, roots):
        resolved = checked(source, roots)
        clip.unlink()
        clip.symlink_to("/etc/passwd")  # the race: after the check, before the open
        return resolved

    monkeypatch.setattr(sources, "open_source", check_then_swap)
    with pytest.raises(SourceRefused, match="not a file under the upload folders"):
        with opened_source(str(clip), [root]):
            pass


def test_enrolment_files_are_checked_again_before_they_are_read(root):
    """The API accepted them; by the time the worker runs, one became a link out of the roots
    and one was deleted: neither is read, and a missing file fails the enrolment (no retry)."""
    assert enrolment_files([root / "clip.mp4"], [root]) == [(root / "clip.mp4").resolve()]
    (root / "photo.jpg").symlink_to("/etc/passwd")
    with pytest.raises(SourceRefused):
        enrolment_files([root / "clip.mp4", root / "photo.jpg"], [root])
    with pytest.raises(InputError, match="nothing to enrol"):
        enrolment_files([root / "gone.jpg"], [root])
