from __future__ import annotations

import json
import stat
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from minicity import point_at

from geo_integration.errors import StoreError
from geo_integration.ingest import ingest_drop
from geo_integration.store import (
    compare_drops,
    drop_digest,
    find_drop,
    list_drops,
    open_drop,
    store_salt,
    write_points_parquet,
)

KENNEDY, CANDELARIA = point_at(2, 8), point_at(9, 2)


@pytest.fixture(autouse=True)
def _no_default_data(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_INTEGRATION_DATA", str(tmp_path_factory.mktemp("nodata")))


def test_salt_created_private_and_stable(tmp_path: Path) -> None:
    salt = store_salt(tmp_path / "store")
    path = tmp_path / "store" / ".salt"
    assert len(salt) == 32 and store_salt(tmp_path / "store") == salt
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "store").iterdir()] == [".salt"]
    path.write_bytes(b"short")
    with pytest.raises(StoreError, match="damaged salt"):
        store_salt(tmp_path / "store")


def test_drop_digest_depends_on_names_and_bytes(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text("x")
    base, files = drop_digest([("a.csv", a)])
    assert files["a.csv"]["size"] == 1 and len(files["a.csv"]["sha256"]) == 64
    assert drop_digest([("b.csv", a)])[0] != base
    a.write_text("y")
    assert drop_digest([("a.csv", a)])[0] != base


def test_points_parquet_is_geoparquet_with_null_geometry(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "lon": [-74.1, np.nan], "lat": [4.6, np.nan]})
    write_points_parquet(frame, tmp_path / "p.parquet")
    back = gpd.read_parquet(tmp_path / "p.parquet")
    assert back.crs.to_epsg() == 4326
    assert back.geometry.iloc[0].coords[0] == (-74.1, 4.6)
    assert back.geometry.iloc[1] is None
    assert back["id"].tolist() == ["a", "b"]


def _drop(root: Path, name: str, rows: list[str], services: list[str] | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "residentes.csv").write_text("\n".join(["id,lat,lon,personas", *rows]) + "\n")
    if services:
        (folder / "servicios.csv").write_text("\n".join(["id,tipo,lat,lon", *services]) + "\n")
    return folder


def _row(i: str, p: object, people: int = 1) -> str:
    return f"{i},{p.y:.7f},{p.x:.7f},{people}"  # type: ignore[attr-defined]


def test_list_open_and_compare_drops(tmp_path: Path, minicity_dir: Path) -> None:
    store = tmp_path / "store"
    first = ingest_drop(
        _drop(
            tmp_path,
            "d1",
            [_row("A", KENNEDY, 2), _row("B", KENNEDY), _row("C", CANDELARIA)],
            [f"S1,colegio,{KENNEDY.y},{KENNEDY.x}"],
        ),
        store=store,
        data_dir=minicity_dir,
    )
    second = ingest_drop(
        _drop(
            tmp_path,
            "d2",
            [
                _row("A", KENNEDY, 2),
                _row("C", CANDELARIA, 3),
                _row("D", CANDELARIA),
                "E,4.70,-74.05,1",
            ],
            [f"S1,colegio,{KENNEDY.y},{KENNEDY.x}", f"S2,salud,{CANDELARIA.y},{CANDELARIA.x}"],
        ),
        store=store,
        data_dir=minicity_dir,
    )
    table = list_drops(store)
    assert table["drop_id"].tolist() == [first.drop_id, second.drop_id]
    assert table["residences"].tolist() == [3, 4] and table["services"].tolist() == [1, 2]
    assert open_drop("latest", store=store).drop_id == second.drop_id
    assert open_drop(first.drop_id[:12], store=store).drop_id == first.drop_id
    assert open_drop(first.path).drop_id == first.drop_id
    assert find_drop(first.digest, store=store) is not None
    result = compare_drops(first.drop_id, "latest", store=store)
    by = result.by_locality
    assert by.loc["08", ["residences_a", "residences_b", "residences_diff"]].tolist() == [2, 1, -1]
    assert by.loc["08", ["people_a", "people_b"]].tolist() == [3, 2]
    assert by.loc["17", ["residences_a", "residences_b", "people_b"]].tolist() == [1, 2, 4]
    assert by.loc["outside", "residences_b"] == 1
    assert by.loc["17", ["services_a", "services_b", "services_diff"]].tolist() == [0, 1, 1]
    assert result.services_by_type.loc["health"].tolist() == [0, 1, 1]
    assert result.records == {"both": 2, "only_a": 1, "only_b": 2}


def test_open_drop_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no drops"):
        open_drop("latest", store=tmp_path / "empty")
    store = tmp_path / "store"
    ingest_drop(_drop(tmp_path, "d1", [_row("A", KENNEDY)]), store=store)
    with pytest.raises(StoreError, match="no drop in"):
        open_drop("19990101", store=store)


def test_damaged_manifest_is_reported(tmp_path: Path) -> None:
    store = tmp_path / "store"
    drop = ingest_drop(_drop(tmp_path, "d1", [_row("A", KENNEDY)]), store=store)
    (drop.path / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="damaged drop"):
        list_drops(store)


def test_manifest_lists_inputs_and_counts(tmp_path: Path) -> None:
    drop = ingest_drop(
        _drop(tmp_path, "d1", [_row("A", KENNEDY), "B,abc,-74.1,1"]), store=tmp_path / "s"
    )
    manifest = json.loads((drop.path / "manifest.json").read_text())
    entry = manifest["files"]["residentes.csv"]
    assert (entry["rows_read"], entry["rows_accepted"], entry["rows_quarantined"]) == (2, 1, 1)
    assert entry["size"] == (tmp_path / "d1" / "residentes.csv").stat().st_size
    assert (
        manifest["package_version"] and manifest["created"] and manifest["drop_hash"] == drop.digest
    )
    assert sorted(p.name for p in drop.path.iterdir()) == [
        "manifest.json", "quarantine.parquet", "report.json", "report.txt",
        "residences.parquet", "services.parquet",
    ]  # fmt: skip
    assert "residentes.csv" in (drop.path / "report.txt").read_text()


def test_points_parquet_written_in_batches(tmp_path: Path) -> None:
    import pyarrow as pa

    from geo_integration.store import points_parquet_writer

    schema = pa.schema([("id", pa.string()), ("lon", pa.float64()), ("lat", pa.float64())])
    with points_parquet_writer(tmp_path / "p.parquet", schema, bbox=[-74.2, 4.5, -74.0, 4.7]) as w:
        w(pa.table({"id": ["a"], "lon": [-74.2], "lat": [4.5]}, schema=schema))
        w(pa.table({"id": ["b", "c"], "lon": [-74.0, None], "lat": [4.7, 4.6]}, schema=schema))
    back = gpd.read_parquet(tmp_path / "p.parquet")
    assert back["id"].tolist() == ["a", "b", "c"] and back.geometry.isna().tolist() == [
        False,
        False,
        True,
    ]
    meta = json.loads(pq_metadata(tmp_path / "p.parquet")[b"geo"])
    assert meta["columns"]["geometry"]["bbox"] == [-74.2, 4.5, -74.0, 4.7]
    with points_parquet_writer(tmp_path / "empty.parquet", schema) as _w:
        pass
    empty = gpd.read_parquet(tmp_path / "empty.parquet")
    assert len(empty) == 0 and list(empty.columns) == ["id", "lon", "lat", "geometry"]
    with pytest.raises(RuntimeError), points_parquet_writer(tmp_path / "bad.parquet", schema):
        raise RuntimeError("stop")
    assert not (tmp_path / "bad.parquet").exists()  # written atomically or not at all


def pq_metadata(path: Path) -> dict[bytes, bytes]:
    import pyarrow.parquet as pq

    return dict(pq.read_schema(path).metadata)


def test_drops_of_different_id_schemes_are_not_compared(tmp_path: Path) -> None:
    store = tmp_path / "store"
    rows = "id,lat,lon\nA,4.61,-74.08\n"
    drops = []
    for name in ("d1", "d2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "residentes.csv").write_text(
            rows + ("" if name == "d1" else "B,4.6,-74.1\n")
        )
        drops.append(ingest_drop(tmp_path / name, store=store))
    assert compare_drops(drops[0].drop_id, drops[1].drop_id, store=store).records["both"] == 1
    manifest = drops[0].path / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["id_scheme"]  # as written before record ids were SipHash
    manifest.write_text(json.dumps(data))
    with pytest.raises(
        StoreError, match=r"\(record id scheme 1\) and .* \(scheme 2\) cannot be compared"
    ):
        compare_drops(drops[0].drop_id, drops[1].drop_id, store=store)
