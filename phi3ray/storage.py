"""Where things are kept: local paths and s3:// / gs:// URIs, phi3ray's cache folder, content hashes.

One module for every file phi3ray reads or writes outside the checkout: run folders and checkpoints
(training), adapters (serving and evaluation fetch them from object storage into the cache), data and
documents (hashed into adapter cards and evaluation lineage), and the cache of things made once
(the tiny Phi-3, the weaviate-server binary, the embedded Weaviate's data). URIs go through pyarrow's
filesystems, as Ray Train's own storage does, so whatever Ray Train can write to, phi3ray can read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from pathlib import Path

CACHE_ENV = "PHI3RAY_CACHE"  # the cache folder; conf/ refers to it as ${phi3ray_cache:<sub-folder>}
DEFAULT_CACHE = "~/.cache/phi3ray"

logger = logging.getLogger(__name__)


def is_uri(path: str) -> bool:
    """True for s3://bucket/..., gs://..., file://... (anything pyarrow resolves by scheme)."""
    return "://" in path


def expand_path(path: str) -> str:
    """Expand ~ and environment variables and make a local path absolute (URIs unchanged)."""
    if is_uri(path):
        return path
    return os.path.abspath(os.path.expanduser(os.path.expandvars(path)))


def cache_dir(*parts: str) -> str:
    """$PHI3RAY_CACHE (default ~/.cache/phi3ray), or a folder below it."""
    return os.path.join(expand_path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE), *parts)


def join(base: str, *parts: str) -> str:
    """base/part/...: for URIs and local paths alike."""
    return "/".join([base.rstrip("/"), *parts])


def filesystem(uri: str):
    """The pyarrow filesystem for a local path or a URI, and the path inside it."""
    import pyarrow.fs as pafs

    return pafs.FileSystem.from_uri(uri if is_uri(uri) else os.path.abspath(uri))


def list_dir(uri: str) -> list[tuple[str, bool]]:
    """(name, is a folder) of every entry of a folder; [] when it does not exist."""
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    return [(info.base_name, info.type == pafs.FileType.Directory) for info in fs.get_file_info(pafs.FileSelector(path))]


def _glob_regex(pattern: str) -> re.Pattern:
    """A glob as a regex over '/'-separated paths: ** crosses folders, * and ? do not."""
    out = ""
    for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return re.compile(out + r"\Z")


def find_files(uri: str) -> list[str]:
    """The files under a URI folder (recursively) or matching a URI glob, as sorted URIs; [] when none."""
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    scheme = uri.split("://", 1)[0] + "://"
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [uri]
    wild = min((path.find(c) for c in "*?[" if c in path), default=-1)
    base = path if wild < 0 else path[:wild].rsplit("/", 1)[0]
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return []
    files = [i.path for i in fs.get_file_info(pafs.FileSelector(base, recursive=True)) if i.type == pafs.FileType.File]
    if wild >= 0:
        files = [f for f in files if _glob_regex(path).match(f)]
    return sorted(scheme + f for f in files)


def upload_dir(local_dir: str, dest_uri: str) -> str:
    """Copy a local folder to dest_uri (a local path or s3:// / gs://), replacing what was there."""
    import pyarrow.fs as pafs

    fs, path = filesystem(dest_uri)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)
    fs.create_dir(path, recursive=True)
    pafs.copy_files(local_dir, path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    return dest_uri


def content_key(uri: str) -> str:
    """A short hash of what a folder holds now: each file's relative path, size and modification time (an object
    store's listing, without downloading). Rewriting the folder (a retrained adapter at the same URI) changes it."""
    import hashlib

    import pyarrow.fs as pafs

    fs, path = filesystem(expand_path(uri))
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    listing = sorted((i.path[len(path):].lstrip("/"), i.size, i.mtime_ns) for i in infos if i.type == pafs.FileType.File)
    return hashlib.sha256(repr(listing).encode()).hexdigest()[:16]


def fetch_dir(uri: str, marker: str, content: str | None = None) -> str:
    """A local folder with the content of uri: the folder itself when local, else a copy in the cache.

    The copy lands in $PHI3RAY_CACHE/remote/<scheme>/<bucket>/<path>/<content_key>: keyed by what the folder
    holds (`content`, when the caller listed it already), so a folder rewritten at the same URI is fetched again
    and an unchanged one is not; copies of the same URI older than ten minutes are removed (a younger one may
    still be read by another replica on this node). A copy is made in a temporary folder and moved into place only
    when it holds `marker` (a file every complete copy has) and the folder did not change meanwhile, so an
    interrupted, wrong or mixed download is never cached. Raises FileNotFoundError without the marker, OSError
    when uri cannot be read.
    """
    import shutil
    import tempfile

    import pyarrow.fs as pafs

    if not is_uri(uri):
        local = Path(expand_path(uri))
        if not (local / marker).is_file():
            raise FileNotFoundError(f"no {marker} in {uri}")
        return str(local)
    home = Path(cache_dir("remote", uri.replace("://", "/").strip("/")))
    if content is None:
        try:
            content = content_key(uri)
        except OSError:  # the store is unreachable: the newest complete copy serves, if there is one
            copies = sorted((d for d in home.glob("*") if (d / marker).is_file()), key=lambda d: d.stat().st_mtime)
            if not copies:
                raise
            logger.warning("cannot list %s; using the copy fetched at %s", uri, time.ctime(copies[-1].stat().st_mtime))
            return str(copies[-1])
    local = home / content
    if (local / marker).is_file():
        return str(local)
    home.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=home, prefix=f".{local.name}-"))
    try:
        source_fs, source_path = filesystem(uri)
        pafs.copy_files(source_path, str(tmp), source_filesystem=source_fs, destination_filesystem=pafs.LocalFileSystem())
        if not (tmp / marker).is_file():
            raise FileNotFoundError(f"no {marker} in {uri}")
        if content_key(uri) != local.name:
            raise OSError(f"{uri} changed while it was being copied; try again once it is written")
        try:
            os.replace(tmp, local)
        except OSError:  # another process (a second replica on this node) put the same content there first
            if not (local / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in home.iterdir():  # earlier contents of this URI (loaded adapters live in memory, not in these files)
        if old != local and not old.name.startswith(".") and time.time() - old.stat().st_mtime > 600:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    return str(local)


def write_text(dest_uri: str, text: str) -> None:
    """Write one text file to a local path or a URI, making its folder first (a no-op on object stores)."""
    fs, path = filesystem(dest_uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(text.encode("utf-8"))


def read_bytes(uri: str | Path) -> bytes:
    """The bytes of one file at a local path or a URI (s3://, gs://, file://); FileNotFoundError when absent."""
    import pyarrow.fs as pafs

    fs, path = filesystem(expand_path(str(uri)))
    if fs.get_file_info(path).type != pafs.FileType.File:
        raise FileNotFoundError(f"no such file: {uri}")
    with fs.open_input_stream(path) as f:
        return f.read()


def read_text(uri: str | Path) -> str:
    """The UTF-8 text of one file at a local path or a URI; FileNotFoundError when absent."""
    return read_bytes(uri).decode("utf-8")


def is_file(uri: str | Path) -> bool:
    """Whether a local path or a URI names an existing file."""
    import pyarrow.fs as pafs

    fs, path = filesystem(expand_path(str(uri)))
    return fs.get_file_info(path).type == pafs.FileType.File


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes (local path or URI), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    if is_uri(str(path)):
        fs, inner = filesystem(str(path))
        with fs.open_input_stream(inner) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    with open(expand_path(str(path)), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
