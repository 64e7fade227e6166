"""Third-party JavaScript and CSS for the maps: fetched, verified, inlined.

The maps must open on offline office machines, so every script and stylesheet is inlined into
the HTML file. The third-party code itself is never committed: ``resources/assets.toml`` (our
manifest) pins each npm package by version and by the registry's ``dist.integrity`` (SRI
sha512). :func:`fetch_assets` (``geo-integration assets fetch``) downloads the tarballs into the
assets cache and checks them; :func:`load_bundle` reads the listed files from the verified
tarballs, turns every ``url(...)`` in the CSS into a ``data:`` URI and returns the inline
``<style>``/``<script>`` blocks.

The assets cache is ``$GEO_INTEGRATION_ASSETS`` when set, else
``$XDG_CACHE_HOME/geo_integration/assets`` (``~/.cache/geo_integration/assets``). It holds the
registry tarballs exactly as downloaded, so it can be copied to an offline machine, or filled
there with ``assets fetch --from DIR`` from a folder of those tarballs.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import posixpath
import re
import tarfile
import tomllib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from geo_integration.errors import ChecksumError, ConfigError, RenderError
from geo_integration.fileio import write_bytes

__all__ = [
    "ASSETS_ENV_VAR",
    "AssetBundle",
    "AssetPackage",
    "AssetsFetchReport",
    "assets_dir",
    "external_references",
    "fetch_assets",
    "load_bundle",
    "load_manifest",
    "verify_integrity",
]

log = logging.getLogger(__name__)

ASSETS_ENV_VAR = "GEO_INTEGRATION_ASSETS"
MANIFEST = Path(__file__).resolve().parent / "resources" / "assets.toml"
FETCH_HINT = "run `geo-integration assets fetch` (make install does it)"

#: Reads a URL and returns its bytes (replaceable in tests).
Opener = Callable[[str], bytes]

_MIME = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject",
}
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+?)\1\s*\)""")
_SOURCE_MAP = re.compile(
    r"^\s*(//[#@]\s*sourceMappingURL=.*|/\*[#@]\s*sourceMappingURL=.*\*/)\s*$", re.M
)


@dataclass(frozen=True)
class AssetPackage:
    """One npm package of the manifest.

    Attributes
    ----------
    name, version
        npm package name and exact version.
    url
        Registry tarball address.
    integrity
        ``sha512-<base64>``, the registry's ``dist.integrity`` of the tarball.
    license
        SPDX licence of the package (kept in the inlined comment).
    js, css
        Paths inside the package of the files to inline, in order.
    """

    name: str
    version: str
    url: str
    integrity: str
    license: str
    js: tuple[str, ...] = ()
    css: tuple[str, ...] = ()

    @property
    def tarball(self) -> str:
        """File name of the tarball in the cache (``leaflet-1.9.4.tgz``)."""
        return f"{self.name.replace('/', '-').lstrip('@')}-{self.version}.tgz"


def load_manifest(path: str | os.PathLike[str] | None = None) -> tuple[AssetPackage, ...]:
    """Read the asset manifest (default: the package's ``resources/assets.toml``).

    Raises
    ------
    ConfigError
        If the file is missing, not TOML, or a package lacks a field.
    """
    file = Path(path) if path is not None else MANIFEST
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"{file}: cannot read the asset manifest: {exc}"
        raise ConfigError(msg) from None
    packages = []
    for i, entry in enumerate(raw.get("package", [])):
        missing = [k for k in ("name", "version", "url", "integrity", "license") if k not in entry]
        if missing:
            msg = f"{file}: package #{i + 1} lacks {missing!r}"
            raise ConfigError(msg)
        if not str(entry["integrity"]).startswith("sha512-"):
            msg = (
                f"{file}: package {entry['name']!r}: integrity must be sha512-..., "
                f"got {entry['integrity']!r}"
            )
            raise ConfigError(msg)
        packages.append(
            AssetPackage(
                name=str(entry["name"]),
                version=str(entry["version"]),
                url=str(entry["url"]),
                integrity=str(entry["integrity"]),
                license=str(entry["license"]),
                js=tuple(entry.get("js", ())),
                css=tuple(entry.get("css", ())),
            )
        )
    if not packages:
        msg = f"{file}: no [[package]] entries"
        raise ConfigError(msg)
    return tuple(packages)


def assets_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the assets cache: ``path``, else ``$GEO_INTEGRATION_ASSETS``, else the user cache."""
    if path is not None and str(path) != "":
        return Path(path).expanduser().resolve()
    env = os.environ.get(ASSETS_ENV_VAR, "")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return (base / "geo_integration" / "assets").resolve()


def verify_integrity(data: bytes, integrity: str, *, what: str) -> None:
    """Check ``data`` against an SRI ``sha512-<base64>`` string.

    Raises
    ------
    ChecksumError
        If the digest differs (the message names ``what`` and both digests).
    """
    algo, _, expected = integrity.partition("-")
    if algo != "sha512":
        msg = f"{what}: unsupported integrity algorithm {algo!r}"
        raise ChecksumError(msg)
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if actual != expected:
        msg = f"{what}: integrity mismatch: expected sha512-{expected}, got sha512-{actual}"
        raise ChecksumError(msg)


@dataclass
class AssetsFetchReport:
    """Outcome of :func:`fetch_assets`: tarball names installed, already present, failed."""

    directory: Path
    installed: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every package is present and verified."""
        return not self.failed


def _default_opener(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "geo_integration assets fetch"})
    with urllib.request.urlopen(request, timeout=60) as response:
        data: bytes = response.read()
    return data


def _source_url(package: AssetPackage, source: str | None) -> str:
    if source is None:
        return package.url
    if re.match(r"^[a-z][a-z0-9+.-]*://", source):
        return source.rstrip("/") + "/" + package.tarball
    return Path(source).expanduser().resolve().joinpath(package.tarball).as_uri()


def _is_intact(path: Path, package: AssetPackage) -> bool:
    try:
        verify_integrity(path.read_bytes(), package.integrity, what=str(path))
    except (OSError, ChecksumError):
        return False
    return True


def fetch_assets(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    source: str | None = None,
    force: bool = False,
    manifest: str | os.PathLike[str] | None = None,
    opener: Opener | None = None,
) -> AssetsFetchReport:
    """Download the manifest's tarballs into the assets cache and verify them.

    Parameters
    ----------
    cache_dir
        Target directory (default: :func:`assets_dir`).
    source
        A directory (or base URL) holding the tarballs under their cache names, for offline
        installs; default: each package's registry URL.
    force
        Download again even when an intact tarball is present.
    manifest
        Another manifest file (tests).
    opener
        Function reading a URL to bytes (default: urllib, 60 s timeout).

    Returns
    -------
    AssetsFetchReport
        Which tarballs were installed, already present or failed (with the reason). A
        tarball whose integrity does not match is never written.
    """
    target = assets_dir(cache_dir)
    read = opener or _default_opener
    report = AssetsFetchReport(directory=target)
    for package in load_manifest(manifest):
        path = target / package.tarball
        if not force and path.is_file() and _is_intact(path, package):
            report.already_present.append(package.tarball)
            continue
        url = _source_url(package, source)
        try:
            data = read(url)
            verify_integrity(data, package.integrity, what=url)
        except ChecksumError as exc:
            report.failed[package.tarball] = str(exc)
            continue
        except (OSError, ValueError) as exc:
            report.failed[package.tarball] = f"cannot download {url}: {exc}"
            continue
        write_bytes(path, data)
        log.info("installed %s from %s", package.tarball, url)
        report.installed.append(package.tarball)
    return report


@dataclass(frozen=True)
class AssetBundle:
    """Inline-ready assets: ``(label, text)`` pairs of CSS and JavaScript, in manifest order."""

    styles: tuple[tuple[str, str], ...]
    scripts: tuple[tuple[str, str], ...]

    def head_html(self) -> str:
        """Return the ``<style>`` and ``<script>`` blocks to put in the page head."""
        parts = [f"<style>/* {label} */\n{css}\n</style>" for label, css in self.styles]
        parts += [f"<script>/* {label} */\n{js}\n</script>" for label, js in self.scripts]
        return "\n".join(parts)

    @property
    def size(self) -> int:
        """Total characters of inlined CSS and JavaScript."""
        return sum(len(t) for _, t in self.styles) + sum(len(t) for _, t in self.scripts)


def _read_members(data: bytes, what: str) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                name = member.name.split("/", 1)[1] if "/" in member.name else member.name
                handle = tar.extractfile(member)
                if handle is not None:
                    members[posixpath.normpath(name)] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        msg = f"{what}: not a readable npm tarball: {exc}"
        raise RenderError(msg) from None
    return members


def _inline_css_urls(css: str, css_path: str, members: dict[str, bytes], what: str) -> str:
    def replace(match: re.Match[str]) -> str:
        ref = match.group(2).strip()
        if ref.startswith(("#", "data:")):
            return match.group(0)
        if re.match(r"^([a-z][a-z0-9+.-]*:|//)", ref, re.I):
            msg = f"{what}: {css_path} refers to an external resource {ref!r}"
            raise RenderError(msg)
        path = posixpath.normpath(posixpath.join(posixpath.dirname(css_path), ref.split("?")[0]))
        if path not in members:
            msg = f"{what}: {css_path} refers to {ref!r}, which is not in the package"
            raise RenderError(msg)
        mime = _MIME.get(posixpath.splitext(path)[1].lower(), "application/octet-stream")
        encoded = base64.b64encode(members[path]).decode("ascii")
        return f'url("data:{mime};base64,{encoded}")'

    return _CSS_URL.sub(replace, css)


def _package_assets(
    package: AssetPackage, data: bytes
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    what = package.tarball
    members = _read_members(data, what)
    label = f"{package.name} {package.version} ({package.license}), npm"
    styles, scripts = [], []
    for path in package.css:
        if path not in members:
            msg = f"{what}: manifest lists {path!r}, which is not in the package"
            raise RenderError(msg)
        css = members[path].decode("utf-8")
        styles.append((f"{label}: {path}", _inline_css_urls(css, path, members, what)))
    for path in package.js:
        if path not in members:
            msg = f"{what}: manifest lists {path!r}, which is not in the package"
            raise RenderError(msg)
        js = _SOURCE_MAP.sub("", members[path].decode("utf-8"))
        scripts.append((f"{label}: {path}", js.replace("</script", "<\\/script")))
    return styles, scripts


def load_bundle(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    manifest: str | os.PathLike[str] | None = None,
) -> AssetBundle:
    """Return the inline assets read from the verified tarballs of the cache.

    Raises
    ------
    RenderError
        If a tarball is missing (the message says to run ``geo-integration assets fetch``),
        or unreadable, or a listed file is absent.
    ChecksumError
        If a cached tarball does not match its pinned integrity.
    """
    target = assets_dir(cache_dir)
    packages = load_manifest(manifest)
    missing = [p.tarball for p in packages if not (target / p.tarball).is_file()]
    if missing:
        msg = f"map assets missing in {target}: {', '.join(missing)}; {FETCH_HINT}"
        raise RenderError(msg)
    stamps = tuple((target / p.tarball).stat().st_mtime_ns for p in packages)
    return _cached_bundle(str(target), packages, stamps)


@lru_cache(maxsize=4)
def _cached_bundle(
    target: str, packages: tuple[AssetPackage, ...], stamps: tuple[int, ...]
) -> AssetBundle:
    del stamps  # part of the cache key only
    styles: list[tuple[str, str]] = []
    scripts: list[tuple[str, str]] = []
    for package in packages:
        path = Path(target) / package.tarball
        data = path.read_bytes()
        try:
            verify_integrity(data, package.integrity, what=str(path))
        except ChecksumError as exc:
            msg = f"{exc}; delete it and {FETCH_HINT}"
            raise ChecksumError(msg) from None
        css, js = _package_assets(package, data)
        styles += css
        scripts += js
    return AssetBundle(styles=tuple(styles), scripts=tuple(scripts))


_TAG_LOADS = (
    re.compile(r"<script\b[^>]*\bsrc\s*=\s*['\"]?(?!data:)([^'\" >]+)", re.I),
    re.compile(r"<link\b[^>]*\bhref\s*=\s*['\"]?(?!data:)([^'\" >]+)", re.I),
    re.compile(
        r"<(?:img|iframe|embed|source|audio|video|track|input|object)\b[^>]*"
        r"\b(?:src|data)\s*=\s*['\"]?(?!data:)([^'\" >]+)",
        re.I,
    ),
)
_CSS_LOADS = (
    re.compile(r"""url\(\s*['"]?(?!data:|#)([^'")\s]+)""", re.I),
    re.compile(r"""@import\s+(?:url\()?\s*['"]?([^'");\s]+)""", re.I),
)
_SCRIPT_BODY = re.compile(r"(<script\b[^>]*>).*?(</script\s*>)", re.I | re.S)
_STYLE_BODY = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.I | re.S)
_STYLE_ATTR = re.compile(r"""\bstyle\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)


def external_references(html: str) -> list[str]:
    """Return the references in ``html`` that a browser would load from elsewhere.

    Looks, outside scripts, for ``<script src>``, ``<link href>`` and ``src`` of media and
    frames, and, in ``<style>`` blocks and ``style`` attributes, for CSS ``url(...)`` and
    ``@import``, that are not ``data:`` URIs. Links the user may click (``<a href>``) and URL
    strings inside scripts are not loads and are not reported (the browser tests catch any
    request a script would make).
    """
    markup = _SCRIPT_BODY.sub(r"\1\2", html)
    css = [m.group(1) for m in _STYLE_BODY.finditer(markup)]
    css += [m.group(1) or m.group(2) for m in _STYLE_ATTR.finditer(markup)]
    markup = _STYLE_BODY.sub("<style></style>", markup)
    found = [m.group(1) for p in _TAG_LOADS for m in p.finditer(markup)]
    found += [m.group(1) for p in _CSS_LOADS for text in css for m in p.finditer(text)]
    return found
