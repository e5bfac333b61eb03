"""Reading and writing NetDef files, in binary or text format.

:func:`load_net` reads a NetDef from a file or from bytes and tells the
format from the content; :func:`save_net` writes one atomically (a temporary
file in the same folder, flushed to disk, then renamed over the target), so a
failed write never leaves a partial or corrupted file behind.

Binary is protobuf's wire format; text is protobuf's text format (Caffe2's
``.pbtxt``).  Fields this schema does not declare survive a binary round trip.
The text format has no way to keep them: text that names an unknown field is
refused unless ``allow_unknown_fields=True`` (which drops it), and a net
holding unknown fields is not saved as text.

Many byte strings happen to be valid protobuf data, so binary input must also
look like a NetDef: it must parse completely, declare at least one NetDef
field, use every declared field with its declared wire type, and hold valid
UTF-8 in every string field.  A byte string cut at a boundary between two
top-level fields is itself a valid, shorter NetDef and cannot be told apart
from one; any other truncation is detected.  An empty NetDef serializes to
zero bytes, which is refused as an empty input.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Union

from google.protobuf import message as _message
from google.protobuf import text_format, unknown_fields
from google.protobuf.descriptor import FieldDescriptor

from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import NetFormatError
from memonger.netdef.netlike import netdef_of

__all__ = [
    "FORMATS",
    "TEXT_SUFFIXES",
    "detect_format",
    "load_net",
    "save_net",
    "serialize_net",
    "write_files_atomically",
]

#: The formats :func:`load_net` and :func:`save_net` know.
FORMATS = ("binary", "text")

#: File suffixes that make :func:`save_net` write text when no format is given.
TEXT_SUFFIXES = (".pbtxt", ".txt", ".prototxt")

#: What :func:`load_net` reads: a path, or the content itself as bytes.
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

#: Control bytes that never occur in text (tab, newlines, form feed and
#: vertical tab do).
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")


def _check_format(format: str | None) -> None:
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS} or None, got {format!r}")


def _looks_like_text(data: bytes) -> bool:
    if _BINARY_BYTES.search(data) is not None:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def detect_format(data: bytes) -> str:
    """Guess whether ``data`` holds a NetDef in ``"text"`` or ``"binary"`` format.

    Text format is UTF-8 without control characters (other than tabs, line
    and page breaks); a binary NetDef with ops always contains control bytes
    (the tag of the ``op`` field is one).  This is a guess:
    :func:`load_net` falls back to the other format when the guess fails.

    Examples
    --------
    >>> detect_format(b'name: "net" op { type: "Relu" }')
    'text'
    >>> relu = caffe2_pb2.OperatorDef(type="Relu")
    >>> detect_format(caffe2_pb2.NetDef(op=[relu]).SerializeToString())
    'binary'
    """
    return "text" if _looks_like_text(bytes(data)) else "binary"


def _is_repeated(field: FieldDescriptor) -> bool:
    repeated = getattr(field, "is_repeated", None)  # protobuf >= 6.31 spelling
    if repeated is None:  # pragma: no cover - older protobuf
        return bool(getattr(field, "label") == FieldDescriptor.LABEL_REPEATED)  # noqa: B009
    return bool(repeated)


def _unknown_fields(msg: _message.Message) -> list[Any]:
    found = unknown_fields.UnknownFieldSet(msg)
    return [found[i] for i in range(len(found))]


def _missing_fields(net: caffe2_pb2.NetDef) -> str:
    errors: list[str] = getattr(net, "FindInitializationErrors")()  # noqa: B009 - not in stubs
    return ", ".join(errors)


def _wire_type_problem(msg: _message.Message, path: str) -> str | None:
    """The first sign that ``msg`` was not written with this schema, or None."""
    descriptor = msg.DESCRIPTOR
    for unknown in _unknown_fields(msg):
        declared = descriptor.fields_by_number.get(unknown.field_number)
        if declared is not None:
            return (
                f"field {unknown.field_number} of {descriptor.full_name} at {path or 'top level'} "
                f"has wire type {unknown.wire_type}, not that of a {declared.name!r} field"
            )
    for field, value in msg.ListFields():
        repeated = _is_repeated(field)
        values = value if repeated else [value]
        where = f"{path}.{field.name}" if path else field.name
        if field.type == FieldDescriptor.TYPE_STRING:
            if not all(isinstance(item, str) for item in values):
                return f"{where} is not valid UTF-8"
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for i, item in enumerate(values):
                problem = _wire_type_problem(item, f"{where}[{i}]" if repeated else where)
                if problem is not None:
                    return problem
    return None


def _first_unknown_field(msg: _message.Message, path: str) -> str | None:
    """Where ``msg`` holds a field its schema does not declare, or None."""
    for unknown in _unknown_fields(msg):
        return f"field {unknown.field_number} at {path or 'top level'}"
    for field, value in msg.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        repeated = _is_repeated(field)
        for i, item in enumerate(value if repeated else [value]):
            where = f"{path}.{field.name}" if path else field.name
            found = _first_unknown_field(item, f"{where}[{i}]" if repeated else where)
            if found is not None:
                return found
    return None


def _parse_binary(data: bytes, where: str) -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef()
    try:
        net.ParseFromString(data)
    except _message.DecodeError as exc:
        raise NetFormatError(
            f"{where}: not a NetDef: the binary data is truncated or malformed ({exc})"
        ) from exc
    problem = _wire_type_problem(net, "")
    if problem is not None:
        raise NetFormatError(f"{where}: not a NetDef: {problem}")
    if not net.ListFields():
        raise NetFormatError(f"{where}: not a NetDef: the binary data holds no NetDef field")
    return net


def _parse_text(data: bytes, where: str, allow_unknown_fields: bool) -> caffe2_pb2.NetDef:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NetFormatError(f"{where}: not a NetDef: the text is not UTF-8 ({exc})") from exc
    net = caffe2_pb2.NetDef()
    try:
        text_format.Parse(text, net, allow_unknown_field=allow_unknown_fields)
    except text_format.ParseError as exc:
        hint = ""
        if "has no field named" in str(exc) and not allow_unknown_fields:
            hint = " (fields unknown to this schema cannot be kept in text format)"
        raise NetFormatError(f"{where}: not a NetDef in text format: {exc}{hint}") from exc
    if not net.IsInitialized():
        raise NetFormatError(
            f"{where}: not a NetDef: required fields are missing: {_missing_fields(net)}"
        )
    if not net.ListFields():
        raise NetFormatError(f"{where}: not a NetDef: the text holds no NetDef field")
    return net


def load_net(
    source: Source,
    *,
    format: str | None = None,
    allow_unknown_fields: bool = False,
) -> caffe2_pb2.NetDef:
    """Read a NetDef from a file or from bytes, in binary or text format.

    Parameters
    ----------
    source : str, os.PathLike or bytes-like
        A path (``str`` or ``pathlib.Path``) or the content itself (``bytes``,
        ``bytearray``, ``memoryview``).  A ``str`` is always a path.
    format : {"binary", "text"}, optional
        Force a format.  By default it is told from the content (not from the
        file name): printable UTF-8 is tried as text first, anything else as
        binary first, and the other format is tried when the first fails.
    allow_unknown_fields : bool, default False
        In text format, skip fields this schema does not declare (they are
        lost) instead of refusing the file.  Binary input always keeps them.

    Returns
    -------
    caffe2_pb2.NetDef
        A new message.

    Raises
    ------
    NetFormatError
        The content is empty, truncated, malformed, or not a NetDef; the
        message names the file (or ``<bytes>``) and what is wrong.
    OSError
        The file cannot be read (missing, a directory, no permission...).
    ValueError
        An unknown ``format``.

    Examples
    --------
    >>> net = load_net(b'name: "tiny" op { type: "Relu" input: "x" output: "y" }')
    >>> net.op[0].type
    'Relu'
    >>> load_net(net.SerializeToString()) == net
    True
    >>> load_net(b"")
    Traceback (most recent call last):
    ...
    memonger.netdef.errors.NetFormatError: <bytes>: not a NetDef: empty input
    """
    _check_format(format)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, where = bytes(source), "<bytes>"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data, where = path.read_bytes(), str(path)
    else:
        raise TypeError(
            f"load_net() takes a path or bytes, not {type(source).__name__} "
            "(use a NetDef directly if you already have one)"
        )
    if not data:
        kind = "input" if where == "<bytes>" else "file"
        raise NetFormatError(f"{where}: not a NetDef: empty {kind}")
    first = format or detect_format(data)
    try:
        if first == "text":
            return _parse_text(data, where, allow_unknown_fields)
        return _parse_binary(data, where)
    except NetFormatError as first_error:
        if format is not None:
            raise
        try:
            if first == "text":
                return _parse_binary(data, where)
            return _parse_text(data, where, allow_unknown_fields)
        except NetFormatError:
            raise first_error from None


def _serialize(net: caffe2_pb2.NetDef, format: str, where: str) -> bytes:
    if not net.IsInitialized():
        raise NetFormatError(
            f"{where}: cannot save a NetDef that lacks required fields: {_missing_fields(net)}"
        )
    if format == "binary":
        return net.SerializeToString()
    unknown = _first_unknown_field(net, "")
    if unknown is not None:
        raise NetFormatError(
            f"{where}: the net holds a field unknown to this schema ({unknown}), which the "
            "text format cannot keep; save it in binary format"
        )
    return text_format.MessageToString(net).encode("utf-8")


def _fsync_directory(directory: Path) -> None:
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:  # pragma: no cover - Windows
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: Signals deferred while files are staged and renamed into place.
_DEFERRED_SIGNALS = tuple(
    sig for sig in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if sig
)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """Hold back SIGINT and SIGTERM handlers; yield the signals that arrived meanwhile.

    While the block runs, those signals are only recorded, so no handler
    (``KeyboardInterrupt``...) can fire between creating a temporary file
    and removing or renaming it.  When the block ends the previous handlers
    are restored and each recorded signal is handed to its handler.  Python
    runs signal handlers in the main thread only, so elsewhere nothing needs
    holding back.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous: dict[int, Any] = {}

    def record(signum: int, frame: object) -> None:
        received.append(signum)

    try:
        for sig in _DEFERRED_SIGNALS:
            with contextlib.suppress(OSError, ValueError):
                previous[sig] = signal.signal(sig, record)
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(received):
            handler = previous.get(sig)
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), sig)


def _resolve_target(path: Path) -> Path:
    if path.is_symlink():  # write where the link points, keep the link
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    return path


def _stage(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new temporary file next to ``path``; return its path.

    The file is created with the permissions the umask gives (``0o666`` less
    the umask), or those of the file it will replace.
    """
    directory = path.parent
    binary_flag = getattr(os, "O_BINARY", 0)
    while True:
        temporary = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | binary_flag, 0o666)
        except FileExistsError:  # pragma: no cover - a 48-bit random name collision
            continue
        except OSError as exc:  # name the file the caller asked for, not the temporary
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        break
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return temporary


def write_files_atomically(
    files: Sequence[tuple[str | os.PathLike[str], bytes]],
) -> None:
    """Write several files all or nothing: stage every one, then rename each into place.

    Each content goes to a temporary file next to its target and is flushed
    to disk; only when all are staged are they renamed over their targets.
    A failure (a full disk, a missing folder...) while staging removes every
    temporary and leaves every target as it was.  SIGINT and SIGTERM are
    held back meanwhile: one that arrived while staging removes the
    temporaries before its handler runs, so an interrupted write leaves the
    previous files intact and no temporary file behind.  New files get the
    permissions the umask gives; a replaced file keeps its permissions; a
    symbolic link is kept and the file it points to is replaced.

    Parameters
    ----------
    files : sequence of (path, bytes)
        Where to write what; the paths must be distinct.

    Raises
    ------
    OSError
        A file cannot be written (nothing was then written).
    ValueError
        Two entries name the same file.
    KeyboardInterrupt
        SIGINT arrived while staging (nothing was written).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     a, b = pathlib.Path(folder) / "a.txt", pathlib.Path(folder) / "b.txt"
    ...     write_files_atomically([(a, b"one"), (b, b"two")])
    ...     sorted(p.name for p in pathlib.Path(folder).iterdir()), a.read_bytes()
    (['a.txt', 'b.txt'], b'one')
    """
    targets = [_resolve_target(Path(path)) for path, _ in files]
    seen: dict[str, Path] = {}
    for target in targets:
        key = os.path.normcase(os.path.abspath(target))
        if key in seen:
            raise ValueError(f"{target} is named twice among the files to write")
        seen[key] = target
    staged: list[Path] = []
    renamed = 0
    with _signals_deferred() as received:
        try:
            for target, (_, data) in zip(targets, files, strict=True):
                staged.append(_stage(target, data))
            if received:  # interrupted while staging: write nothing
                raise KeyboardInterrupt
            for temporary, target in zip(staged, targets, strict=True):
                os.replace(temporary, target)
                renamed += 1
        except BaseException:
            for temporary in staged[renamed:]:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
            raise
    for directory in dict.fromkeys(target.parent for target in targets):
        _fsync_directory(directory)


def _atomic_write(path: Path, data: bytes) -> None:
    write_files_atomically([(path, data)])


def save_net(net: Any, path: str | os.PathLike[str], format: str | None = None) -> None:
    """Write a NetDef to a file atomically, in binary or text format.

    The content goes to a temporary file next to ``path``, is flushed to
    disk, and then replaces ``path`` in one rename: readers see the old file
    or the new one, never a partial one, and a failure leaves ``path`` as it
    was and no temporary file behind.  An existing file keeps its permissions;
    a symbolic link is kept and the file it points to is replaced.

    Parameters
    ----------
    net : caffe2_pb2.NetDef or object with ``Proto()``
        The net (not modified).
    path : str or os.PathLike
        Where to write.
    format : {"binary", "text"}, optional
        Default: text when the suffix is one of :data:`TEXT_SUFFIXES`
        (``.pbtxt``, ``.txt``, ``.prototxt``), else binary.

    Raises
    ------
    NetFormatError
        The net lacks required fields, or holds unknown fields and the
        format is text (only binary keeps them).
    OSError
        The file cannot be written.
    ValueError
        An unknown ``format``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> net = caffe2_pb2.NetDef(name="tiny", external_input=["x"])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target = pathlib.Path(folder) / "tiny.pbtxt"
    ...     save_net(net, target)
    ...     print(target.read_text(), end="")
    ...     load_net(target) == net
    name: "tiny"
    external_input: "x"
    True
    """
    _atomic_write(Path(path), serialize_net(net, path, format))


def serialize_net(net: Any, path: str | os.PathLike[str], format: str | None = None) -> bytes:
    """The bytes :func:`save_net` would write to ``path`` (format chosen the same way).

    Raises
    ------
    NetFormatError, ValueError
        As :func:`save_net`.

    Examples
    --------
    >>> serialize_net(caffe2_pb2.NetDef(name="tiny"), "tiny.pbtxt")
    b'name: "tiny"\\n'
    """
    _check_format(format)
    target = Path(path)
    chosen = format or ("text" if target.suffix.lower() in TEXT_SUFFIXES else "binary")
    return _serialize(netdef_of(net), chosen, str(target))
