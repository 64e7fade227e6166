"""The analysis-folder loader and the input bundle."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from maptables import make_inputs, write_analysis_dir

from geo_integration.errors import DropError, InputFileError
from geo_integration.render_inputs import MapInputs, load_analysis_dir


def test_round_trip_of_an_analysis_folder(minicity_dir: Path, tmp_path: Path) -> None:
    original = make_inputs(minicity_dir)
    folder = write_analysis_dir(original, tmp_path / "analysis")
    previous = write_analysis_dir(original, tmp_path / "before")
    (previous / "summary.json").write_text('{"drop_date": "2024-03-01"}', encoding="utf-8")
    loaded = load_analysis_dir(folder, data_dir=minicity_dir, previous=previous)
    assert loaded.drop_id == "20240601-abc" and loaded.drop_date == "2024-06-01"
    assert loaded.previous_drop_date == "2024-03-01"
    assert loaded.service_types() == ["health", "school"]
    assert loaded.threshold_list() == [10, 15, 30] and loaded.default_threshold() == 15
    assert loaded.siting_summary == original.siting_summary
    assert loaded.geocoding == original.geocoding
    assert loaded.ingest_report == original.ingest_report
    assert loaded.sites is not None and list(loaded.sites["rank"]) == [1, 2]
    assert loaded.services is not None and loaded.services.crs == "EPSG:4326"
    assert loaded.hex_access is not None
    pd.testing.assert_frame_equal(
        pd.DataFrame(loaded.hex_access), pd.DataFrame(original.hex_access)
    )
    assert list(loaded.localities["loc_code"]) == ["08", "11", "17", "19"]


def test_errors_name_the_folder_or_file(minicity_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DropError, match="analysis folder not found"):
        load_analysis_dir(tmp_path / "nope", data_dir=minicity_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DropError, match="none of the expected analysis files"):
        load_analysis_dir(tmp_path / "empty", data_dir=minicity_dir)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "localities.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputFileError, match=r"bad/localities\.parquet: cannot read"):
        load_analysis_dir(bad, data_dir=minicity_dir)
    (bad / "localities.parquet").unlink()
    (bad / "summary.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InputFileError, match="expected a JSON object"):
        load_analysis_dir(bad, data_dir=minicity_dir)


def test_thresholds_and_types_found_from_columns(minicity_dir: Path) -> None:
    inputs = make_inputs(minicity_dir)
    bare = MapInputs(localities=inputs.localities)
    assert bare.service_types() == [] and bare.default_threshold() is None
    only_services = MapInputs(localities=inputs.localities, services=inputs.services)
    assert only_services.service_types() == ["citizen_service", "health", "school"]
    custom = MapInputs(
        localities=inputs.localities,
        locality_access=pd.DataFrame(
            {"loc_code": ["08"], "share_within_20_health": [0.5], "share_within_45_health": [0.9]}
        ),
    )
    assert custom.threshold_list() == [20, 45] and custom.default_threshold() == 45
