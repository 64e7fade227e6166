from __future__ import annotations

from pathlib import Path

import pytest

from geo_integration import loaders
from geo_integration.errors import DataDirError


def test_localities_clean_names_and_codes(minicity_dir: Path) -> None:
    loc = loaders.load_localities(minicity_dir)
    assert loc.crs.to_epsg() == 4326
    assert loc["loc_code"].tolist() == ["08", "11", "17", "19"]
    names = dict(zip(loc["loc_code"], loc["loc_name"], strict=True))
    assert names["17"] == "La Candelaria"
    assert names["19"] == "Ciudad Bolívar"
    assert not loc["rural"].any()


def test_upz_get_their_locality(minicity_dir: Path) -> None:
    upz = loaders.load_upz(minicity_dir)
    assert len(upz) == 8
    assert upz["loc_code"].value_counts().to_dict() == {"08": 2, "11": 2, "17": 2, "19": 2}
    assert upz.loc[upz["upz_code"] == "UPZ1", "loc_code"].item() == "08"


def test_population_latest_year_and_upz_codes(minicity_dir: Path) -> None:
    pop = loaders.load_population(minicity_dir)
    assert set(pop["year"]) == {2025}
    upz = loaders.load_population(minicity_dir, level="upz")
    assert upz["upz_code"].tolist()[:2] == ["UPZ1", "UPZ2"]


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match=r"boundaries/Loca\.shp"):
        loaders.load_localities(tmp_path)


def test_loader_returns_a_copy(minicity_dir: Path) -> None:
    first = loaders.load_localities(minicity_dir)
    first["loc_name"] = "x"
    assert loaders.load_localities(minicity_dir)["loc_name"].iloc[0] != "x"


def test_sitp_labels(minicity_dir: Path) -> None:
    stops = loaders.load_sitp_stops(minicity_dir)
    assert stops["label"].iloc[0] == "CL 2 - KR 2"
    assert stops.crs.to_epsg() == 4326


@pytest.mark.shared_data
def test_real_localities(shared_data: Path) -> None:
    loc = loaders.load_localities(shared_data)
    assert len(loc) == 20
    assert loc.set_index("loc_code").loc["20", "rural"]
    assert loc.set_index("loc_code").loc["17", "loc_name"] == "La Candelaria"
    upz = loaders.load_upz(shared_data)
    assert (upz["upz_kind"] == "UPZ").sum() == 112
    assert upz["loc_code"].notna().all()


@pytest.mark.shared_data
def test_real_supercade_keeps_commas_in_source(shared_data: Path) -> None:
    cades = loaders.load_supercade(shared_data)
    assert len(cades) == 21
    assert cades["direccion"].notna().sum() == 4
    assert cades.loc[0, "nombre"] == "SuperCADE 20 de Julio"
    assert "ids" in cades.loc[0, "fuente"]
