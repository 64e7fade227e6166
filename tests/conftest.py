"""Shared fixtures: the tiny synthetic city and the real data mirror."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from minicity import write_minicity

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def minicity_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the tiny synthetic city (see ``tests/minicity.py``)."""
    return write_minicity(tmp_path_factory.mktemp("minicity"))


def _mirror() -> Path | None:
    env = os.environ.get("GEO_INTEGRATION_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data" / "bogota")
    for cand in candidates:
        if (cand / "boundaries" / "Loca.shp").is_file():
            return cand.resolve()
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real Bogotá data mirror. Skips locally when absent; fails in CI (CI=true)."""
    found = _mirror()
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(
                "CI=true but the Bogotá data mirror was not found "
                "(set GEO_INTEGRATION_DATA or provide ../shared/data/bogota)"
            )
        pytest.skip("Bogotá data mirror not available")
    return found


@pytest.fixture(autouse=True)
def _in_own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder, so the commands' relative defaults (``./store``,
    ``./report``) never land in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the network: any socket connection to a non-local host fails."""
    import socket

    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in ("127.0.0.1", "localhost", "::1")
            and not host.startswith("/")
        ):
            msg = f"network access attempted in a test: {address!r}"
            raise RuntimeError(msg)
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True, scope="session")
def _restore_logging() -> object:
    """CLI tests install a rich log handler on the root logger; take it off at the end so
    objects logging while the interpreter shuts down do not hit a half-torn-down console."""
    import logging

    root = logging.getLogger()
    before = list(root.handlers)
    yield
    root.handlers[:] = before
