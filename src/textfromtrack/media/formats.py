"""Which uploads we accept: the extension allow-list, and the container each may hold.

The extension is checked twice: here, before a byte is stored (cheap, and the
message can list what we accept), and again by ``probe`` against the container
FFmpeg actually detects, so a file cannot pass as a type it is not. The format
names are FFmpeg demuxer names as PyAV reports them in ``container.format.name``;
each was verified against a file of that type written with PyAV's own encoders.
"""

from __future__ import annotations

from collections.abc import Mapping

from textfromtrack.errors import ValidationFailed

# FFmpeg reports one demuxer for the whole ISO-BMFF family.
_MP4 = "mov,mp4,m4a,3gp,3g2,mj2"

# extension -> the demuxers whose detection agrees with it.
ALLOWED_FORMATS: Mapping[str, frozenset[str]] = {
    ".mp3": frozenset({"mp3"}),
    ".wav": frozenset({"wav"}),
    ".flac": frozenset({"flac"}),
    ".m4a": frozenset({_MP4}),
    # Mostly raw ADTS; some tools write MP4-wrapped AAC under this name, which is
    # the same codec in a container we accept anyway.
    ".aac": frozenset({"aac", _MP4}),
    ".ogg": frozenset({"ogg"}),
    ".oga": frozenset({"ogg"}),
    ".opus": frozenset({"ogg"}),
    ".webm": frozenset({"matroska,webm"}),
    ".aiff": frozenset({"aiff"}),
    ".aif": frozenset({"aiff"}),
    # Bundled FFmpeg decodes WMA v1/v2 (wmav1, wmav2) from ASF.
    ".wma": frozenset({"asf"}),
}

ALLOWED_EXTENSIONS: tuple[str, ...] = tuple(ALLOWED_FORMATS)

# Names a user recognises, for messages; unknown demuxers fall back to FFmpeg's own.
_FORMAT_LABELS: Mapping[str, str] = {
    "mp3": "MP3",
    "wav": "WAV",
    "flac": "FLAC",
    _MP4: "MP4/M4A",
    "aac": "AAC (ADTS)",
    "ogg": "Ogg",
    "matroska,webm": "WebM/Matroska",
    "aiff": "AIFF",
    "asf": "WMA (ASF)",
}


def extension_of(filename: str) -> str:
    """The lower-cased extension with its dot, or "" when the name has none.

    Browsers may send a full client path (old Windows ones do), so only the last
    path component counts. A leading dot alone (".mp3") is a hidden-file name,
    not an extension, as in ``pathlib``.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1:
        return ""
    return name[dot:].lower()


def allowed_list() -> str:
    return ", ".join(ALLOWED_EXTENSIONS)


def check_extension(filename: str) -> str:
    """Return the file's extension, or raise ValidationFailed when we do not accept it."""
    ext = extension_of(filename)
    if ext not in ALLOWED_FORMATS:
        shown = f"'{ext}'" if ext else "no extension"
        raise ValidationFailed(
            f"Unsupported file type ({shown}). Allowed: {allowed_list()}.",
            details={"fields": {"file": f"unsupported file type; allowed: {allowed_list()}"}},
        )
    return ext


def format_agrees(extension: str, format_name: str) -> bool:
    return format_name in ALLOWED_FORMATS.get(extension.lower(), frozenset())


def describe_format(format_name: str) -> str:
    """A user-facing name for an FFmpeg demuxer name ("png_pipe" -> "PNG image")."""
    if format_name in _FORMAT_LABELS:
        return _FORMAT_LABELS[format_name]
    if format_name.endswith("_pipe"):  # FFmpeg's single-image demuxers
        return f"{format_name.removesuffix('_pipe').upper()} image"
    return format_name


def extensions_for(format_name: str) -> tuple[str, ...]:
    """The extensions a file in this container could be renamed to, for advice."""
    return tuple(ext for ext, names in ALLOWED_FORMATS.items() if format_name in names)
