"""Errors the project raises on purpose.

``InputError`` and its children mean the input is bad and retrying will not help; they carry the
offending input's name so the message a user sees says which file is wrong and why.
"""

from __future__ import annotations


class ModerationError(Exception):
    """Base class of every error raised on purpose by this package."""


class InputError(ModerationError):
    """An input cannot be used. ``reason`` is a short stable code for counting skips."""

    reason = "bad_input"

    def __init__(self, source: str, problem: str):
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class UnreadableImage(InputError):
    reason = "unreadable"


class ImageTooSmall(InputError):
    reason = "too_small"


class NoFaceFound(InputError):
    reason = "no_face"


class VideoError(InputError):
    """A video that cannot be scanned; permanent: retrying gives the same answer."""

    reason = "bad_video"


class CorruptVideo(VideoError):
    reason = "corrupt"


class NoVideoStream(VideoError):
    reason = "no_video_stream"


class VideoTooLong(VideoError):
    reason = "too_long"


class VideoTooLarge(VideoError):
    reason = "too_large"


class TooManyStreams(VideoError):
    """More streams than the reader opens: each costs a decoder when the file is opened (1500
    copies of a 64x48 stream took 6 s and 900 MB before this limit)."""

    reason = "too_many_streams"


class DecodeTimeout(VideoError):
    reason = "decode_timeout"


class VideoTooSmall(VideoError):
    """Frames too small (or too thin) to hold a face the detector could judge."""

    reason = "too_small"


class UnsupportedFormat(VideoError):
    """A container outside the demuxer allow-list (concat lists, playlists, images, SDP)."""

    reason = "unsupported_format"


class AnalysisFailed(VideoError):
    """Decoding, detection or scoring failed on content a valid container held; the message
    names the failure's type, never its traceback."""

    reason = "analysis_failed"


class SourceRefused(InputError):
    """An upload source outside the configured roots, a URL, or not a plain file path. The
    message never says whether anything exists at that path."""

    reason = "source_refused"


class NotAFile(InputError):
    """The source is a directory, a FIFO, a device or a socket, not a regular file."""

    reason = "not_a_file"


class DanglingSymlink(InputError):
    reason = "dangling_symlink"


class SourceMissing(ModerationError):
    """Nothing at the source path (yet): the upload may still be on its way, so the worker
    retries before it gives up. Not an ``InputError``, which would be final at once."""

    reason = "missing"

    def __init__(self, source: str):
        self.source = source
        super().__init__(f"{source}: no such file")


class ModelWeightsMissing(ModerationError):
    """A model's weights file is absent or damaged; the message says how to provide it."""


class ConfigError(ModerationError):
    """A setting, argument or recipe is invalid."""
