"""Assets: manifest, integrity, fetching (from a local fake tarball), inlining, scanning."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
from pathlib import Path

import pytest

from geo_integration import assets
from geo_integration.errors import ChecksumError, ConfigError, RenderError

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def make_tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A one-package manifest whose tarball sits in a local mirror folder."""
    tarball = make_tarball(
        {
            "dist/lib.js": b"var LIB = 1;\n//# sourceMappingURL=lib.js.map\n",
            "dist/lib.css": b".a{background:url(images/dot.png)} .b{behavior:url(#default#VML)}",
            "dist/images/dot.png": PNG,
        }
    )
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "fakelib-1.0.0.tgz").write_bytes(tarball)
    manifest = tmp_path / "assets.toml"
    manifest.write_text(
        "[[package]]\n"
        'name = "fakelib"\nversion = "1.0.0"\nlicense = "MIT"\n'
        'url = "https://registry.npmjs.org/fakelib/-/fakelib-1.0.0.tgz"\n'
        f'integrity = "{sri(tarball)}"\n'
        'js = ["dist/lib.js"]\ncss = ["dist/lib.css"]\n',
        encoding="utf-8",
    )
    return manifest, mirror, tarball


def test_real_manifest_pins_npm_tarballs_by_sha512() -> None:
    packages = assets.load_manifest()
    names = [p.name for p in packages]
    assert names[0] == "leaflet"
    assert {"leaflet.markercluster", "leaflet.fullscreen"} <= set(names)
    for package in packages:
        assert package.url == (
            f"https://registry.npmjs.org/{package.name}/-/{package.name}-{package.version}.tgz"
        )
        assert package.integrity.startswith("sha512-")
        assert len(base64.b64decode(package.integrity[7:])) == 64
        assert package.js or package.css


def test_verify_integrity_accepts_and_rejects() -> None:
    assets.verify_integrity(b"abc", sri(b"abc"), what="x")
    with pytest.raises(ChecksumError, match="x: integrity mismatch"):
        assets.verify_integrity(b"abd", sri(b"abc"), what="x")


def test_fetch_from_local_mirror_then_already_present(
    fake: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    manifest, mirror, tarball = fake
    cache = tmp_path / "cache"
    report = assets.fetch_assets(cache, source=str(mirror), manifest=manifest)
    assert report.ok and report.installed == ["fakelib-1.0.0.tgz"]
    assert (cache / "fakelib-1.0.0.tgz").read_bytes() == tarball
    again = assets.fetch_assets(cache, source=str(mirror), manifest=manifest)
    assert again.installed == [] and again.already_present == ["fakelib-1.0.0.tgz"]


def test_fetch_uses_registry_url_and_rejects_tampered_download(
    fake: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    manifest, _, tarball = fake
    asked: list[str] = []

    def opener(url: str) -> bytes:
        asked.append(url)
        return tarball + b"tampered"

    cache = tmp_path / "cache"
    report = assets.fetch_assets(cache, manifest=manifest, opener=opener)
    assert asked == ["https://registry.npmjs.org/fakelib/-/fakelib-1.0.0.tgz"]
    assert not report.ok
    assert "integrity mismatch" in report.failed["fakelib-1.0.0.tgz"]
    assert not (cache / "fakelib-1.0.0.tgz").exists()


def test_fetch_reports_download_errors(fake: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    manifest, _, _ = fake

    def opener(url: str) -> bytes:
        raise OSError("network is unreachable")

    report = assets.fetch_assets(tmp_path / "cache", manifest=manifest, opener=opener)
    assert "network is unreachable" in report.failed["fakelib-1.0.0.tgz"]


def test_bundle_inlines_css_urls_as_data_uris(
    fake: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    manifest, mirror, _ = fake
    cache = tmp_path / "cache"
    assets.fetch_assets(cache, source=str(mirror), manifest=manifest)
    bundle = assets.load_bundle(cache, manifest=manifest)
    css = bundle.styles[0][1]
    assert f'url("data:image/png;base64,{base64.b64encode(PNG).decode()}")' in css
    assert "url(#default#VML)" in css  # fragment references are left alone
    js = bundle.scripts[0][1]
    assert "var LIB = 1;" in js and "sourceMappingURL" not in js
    assert assets.external_references(bundle.head_html()) == []


def test_bundle_missing_tells_user_to_fetch(fake: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    manifest, _, _ = fake
    with pytest.raises(RenderError, match="geo-integration assets fetch"):
        assets.load_bundle(tmp_path / "empty", manifest=manifest)


def test_bundle_rejects_a_cached_tarball_that_changed(
    fake: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    manifest, mirror, _ = fake
    cache = tmp_path / "cache"
    assets.fetch_assets(cache, source=str(mirror), manifest=manifest)
    (cache / "fakelib-1.0.0.tgz").write_bytes(make_tarball({"dist/lib.js": b"evil()"}))
    with pytest.raises(ChecksumError, match="integrity mismatch"):
        assets.load_bundle(cache, manifest=manifest)


def test_css_with_external_url_is_refused(tmp_path: Path) -> None:
    tarball = make_tarball({"a.css": b"@font-face{src:url(https://cdn.example/f.woff2)}"})
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[[package]]\nname = "x"\nversion = "1"\nlicense = "MIT"\nurl = "u"\n'
        f'integrity = "{sri(tarball)}"\ncss = ["a.css"]\n',
        encoding="utf-8",
    )
    (tmp_path / "x-1.tgz").write_bytes(tarball)
    with pytest.raises(
        RenderError, match=re.escape("external resource 'https://cdn.example/f.woff2'")
    ):
        assets.load_bundle(tmp_path, manifest=manifest)


def test_manifest_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "m.toml"
    bad.write_text('[[package]]\nname = "x"\nversion = "1"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"lacks \['url', 'integrity', 'license'\]"):
        assets.load_manifest(bad)
    bad.write_text(
        '[[package]]\nname = "x"\nversion = "1"\nurl = "u"\nlicense = "MIT"\n'
        'integrity = "sha1-abc"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="integrity must be sha512"):
        assets.load_manifest(bad)


def test_assets_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEO_INTEGRATION_ASSETS", str(tmp_path / "env"))
    assert assets.assets_dir() == (tmp_path / "env").resolve()
    assert assets.assets_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    monkeypatch.delenv("GEO_INTEGRATION_ASSETS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert assets.assets_dir() == (tmp_path / "xdg" / "geo_integration" / "assets").resolve()


def test_external_references_finds_loads_not_links() -> None:
    page = (
        '<link rel="stylesheet" href="https://cdn.x/a.css"><script src="http://cdn.x/b.js">'
        '</script><style>.a{background:url(img/x.png)} @import "c.css";</style>'
        "<div style=\"background:url('http://q/z.png')\"></div><img src='data:image/png;base64,AA'>"
        '<a href="https://www.openstreetmap.org/copyright">OSM</a>'
        '<script>var s = "<img src=x>"; var u = "https://tile/{z}";</script>'
    )
    assert assets.external_references(page) == [
        "http://cdn.x/b.js",
        "https://cdn.x/a.css",
        "img/x.png",
        "http://q/z.png",
        "c.css",
    ]


def test_cli_assets_fetch(
    fake: tuple[Path, Path, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from geo_integration.cli import main

    manifest, mirror, _ = fake
    monkeypatch.setattr(assets, "MANIFEST", manifest)
    cache = tmp_path / "cache"
    assert main(["assets", "fetch", "--dir", str(cache), "--from", str(mirror)]) == 0
    assert "1 installed, 0 already present, 0 failed" in capsys.readouterr().out
    (mirror / "fakelib-1.0.0.tgz").write_bytes(b"corrupt")
    assert main(["assets", "fetch", "--dir", str(cache), "--from", str(mirror), "--force"]) == 1
    captured = capsys.readouterr()
    assert "1 failed" in captured.out
    assert "fakelib-1.0.0.tgz" in captured.err and "integrity mismatch" in captured.err
