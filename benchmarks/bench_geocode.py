"""Benchmark of the offline geocoder: accuracy on real addresses, throughput, memory.

Run from the repository root (needs the Bogotá data mirror)::

    GEO_INTEGRATION_DATA=../shared/data/bogota PYTHONPATH=. python benchmarks/bench_geocode.py

Options: ``--rows N`` (throughput sample, default 1,000,000), ``--skip-build`` (do not time a
fresh index build), ``--worst N`` (worst cases listed, default 20). Nothing is written into
the repository: the index cache goes to a temporary directory.

Accuracy references (both independent of the geocoder: its index is built from the address
points, the centrelines and the areas only):

- schools (``services/colegios.geojson``): human-typed addresses with coordinates;
- SITP stops (``transit/sitp_paraderos_zonales.csv``): intersection labels with coordinates,
  geocoded once as bare labels and once with the stop's locality given (which flags results
  far outside it).

Reference noise is judged two ways. (1) Where a school's typed address is an official label,
the school's point is compared with the city's own point for that label: the share farther
than 200 m estimates how often the reference (point or typed address) is wrong. (2) A
reference is *trusted* when an official address point on the typed street lies within 150 m
of it, less than 2 street numbers from the typed cross street (so the typed address and
the point agree by the city's own data), and it lies in Bogotá. Error figures are
given for all matched references and for trusted ones; targets are judged on trusted,
well-formed ones. (3) The hold-out hides city points and finds them again: the city's own
positions are an exact truth for the levels below *exact*.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo_integration import loaders  # noqa: E402
from geo_integration.address import StreetRef, family_type, parse_address  # noqa: E402
from geo_integration.config import resolve_data_dir  # noqa: E402
from geo_integration.geocode_index import (  # noqa: E402
    build_index,
    code_value,
    load_index,
    parse_official,
)
from geo_integration.geocoder import geocode_addresses  # noqa: E402

GOOD = ("exact", "interpolated", "intersection")


def peak_mb() -> float:
    """Peak resident memory of this process, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def metric_xy(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", "EPSG:9377", always_xy=True)
    x, y = tr.transform(lon, lat)
    return np.asarray(x), np.asarray(y)


def _key(ref: StreetRef) -> str:
    tail = f" {ref.cardinal}" if ref.cardinal else ""
    return f"{family_type(ref.kind)} {ref.code}{tail}"


def _value(ref: StreetRef) -> float:
    return code_value(ref.number, ref.letters, ref.bis, ref.bis_letter, ref.cardinal)


def street_keys(text: str, avenues: dict[str, list[str]]) -> dict[str, float]:
    """Street family keys a typed address names, each with the cross-street value on it."""
    p = parse_address(text, avenues=avenues)
    if p.street is None or p.cross is None:
        return {}
    streets = [p.street]
    for label in avenues.get(p.avenue or "", [])[1:]:
        q = parse_address(f"{label}, 1 01")
        if q.street is not None:
            streets.append(q.street)
    keys = {_key(s): _value(p.cross) for s in streets}
    if p.intersection and p.cross.kind:
        for s in streets:
            keys[_key(p.cross)] = _value(s)
    return keys


class Official:
    """The official points with their street family keys, for judging references."""

    def __init__(self, root: Path) -> None:
        from scipy.spatial import cKDTree

        points = loaders.load_addresses(root)
        parsed = parse_official(points["address"])
        ok = parsed["ok"].to_numpy()
        self.street = parsed.loc[ok, "street"].to_numpy()
        self.cross_value = parsed.loc[ok, "cross_value"].to_numpy(float)
        self.label = parsed.loc[ok, "label"].to_numpy()
        x, y = metric_xy(points.geometry.x.to_numpy()[ok], points.geometry.y.to_numpy()[ok])
        self.xy = np.column_stack([x, y])
        self.tree = cKDTree(self.xy)
        self.by_label = pd.DataFrame(self.xy, index=self.label).groupby(level=0).mean()

    def trusted(
        self, xy: np.ndarray, keys: list[dict[str, float]], radius: float = 150.0
    ) -> np.ndarray:
        """A reference is trusted when a city point within ``radius`` lies on the typed
        street, less than 2 street numbers from the typed cross street."""
        near = self.tree.query_ball_point(xy, r=radius)
        out = []
        for idx, k in zip(near, keys, strict=True):
            ok = False
            for j in idx:
                v = k.get(self.street[j])
                if v is not None and abs(self.cross_value[j] - v) <= 2.0:
                    ok = True
                    break
            out.append(ok)
        return np.array(out, dtype=bool)


def accuracy(name: str, texts: pd.Series, ref_xy: np.ndarray, index, official: Official,
             worst: int, localities: pd.Series | None = None) -> dict[str, float]:  # fmt: skip
    t0 = time.perf_counter()
    if localities is None:
        result = geocode_addresses(texts, index=index)
    else:
        frame = pd.DataFrame({"address": texts.to_numpy(), "loc": localities.to_numpy()})
        result = geocode_addresses(frame, address_col="address", localidad_col="loc", index=index)
    seconds = time.perf_counter() - t0
    gx, gy = metric_xy(result["lon"].to_numpy(), result["lat"].to_numpy())
    err = np.hypot(gx - ref_xy[:, 0], gy - ref_xy[:, 1])
    level = result["match_level"].to_numpy()
    well_formed = result["match_reason"].isna().to_numpy() | np.isin(
        result["match_reason"].to_numpy(), ["no_position", "street_not_found", "outside_locality"]
    )
    keys = [street_keys(t, index.avenues) for t in texts]
    in_city = (ref_xy[:, 0] > 4.85e6) & (ref_xy[:, 0] < 4.91e6) & (ref_xy[:, 1] > 1.95e6)
    in_city &= ref_xy[:, 1] < 2.11e6
    trusted = official.trusted(ref_xy, keys) & in_city
    n = len(texts)
    print(f"\n== {name}: {n} references, geocoded in {seconds:.2f} s")
    print(f"well-formed (parsed): {well_formed.sum()} ({well_formed.mean():.1%})")
    print(f"trusted references: {trusted.sum()} ({trusted.mean():.1%})")
    counts = pd.Series(level).value_counts()
    levels = ["exact", "interpolated", "intersection", "grid", "area", "none"]
    print("match levels (all):     " + ", ".join(f"{lv} {counts.get(lv, 0)}" for lv in levels))
    sel = well_formed & trusted
    counts_t = pd.Series(level[sel]).value_counts()
    print("match levels (trusted, well-formed): "
          + ", ".join(f"{lv} {counts_t.get(lv, 0)} ({counts_t.get(lv, 0) / max(sel.sum(), 1):.1%})"
                      for lv in levels))  # fmt: skip
    good = np.isin(level, GOOD)
    share_good = good[sel].mean() if sel.any() else float("nan")
    print(f"intersection or better, trusted well-formed: {share_good:.1%} (target >= 95%)")
    figures: dict[str, float] = {"share_good": float(share_good), "seconds": seconds}
    subsets = (("all matched", np.isfinite(err)), ("trusted matched", np.isfinite(err) & trusted))
    for label, mask in subsets:
        if mask.any():
            med, p90 = np.median(err[mask]), np.percentile(err[mask], 90)
            print(f"error, {label} ({mask.sum()}): median {med:.1f} m, p90 {p90:.1f} m")
            figures[f"{label} median"] = float(med)
            figures[f"{label} p90"] = float(p90)
    for lv in levels[:4]:
        mask = (level == lv) & trusted & np.isfinite(err)
        if mask.any():
            print(f"   {lv:13s} trusted n={mask.sum():5d} median {np.median(err[mask]):7.1f} m"
                  f"  p90 {np.percentile(err[mask], 90):8.1f} m")  # fmt: skip
    table = pd.DataFrame(
        {
            "address": texts.to_numpy(),
            "level": level,
            "matched": result["matched_address"],
            "error_m": np.round(err),
            "trusted": trusted,
        }
    )
    if localities is not None:
        out = result["match_reason"].to_numpy() == "outside_locality"
        far = np.isfinite(err) & (err > 1000)
        print(f"placed outside the record's locality (flagged, confidence halved): {out.sum()}; "
              f"{(out & far).sum()} of them lie > 1 km from their reference, which "
              f"{far.sum()} results do in all")  # fmt: skip
    print(f"worst {worst} trusted cases:")
    print(table[trusted & np.isfinite(err)].sort_values("error_m", ascending=False).head(worst)
          .to_string(index=False))  # fmt: skip
    return figures


def reference_noise(schools: pd.DataFrame, ref_xy: np.ndarray, official: Official) -> None:
    labels = [parse_address(a).label for a in schools["address"]]
    known = np.array([lbl in official.by_label.index for lbl in labels])
    if not known.any():
        return
    pos = official.by_label.loc[[lbl for lbl, k in zip(labels, known, strict=True) if k]].to_numpy()
    d = np.hypot(*(pos - ref_xy[known]).T)
    print(f"\n== reference noise: {known.sum()} schools whose typed address is an official label")
    print(
        f"school point vs city point of that label: median {np.median(d):.1f} m, "
        f"p90 {np.percentile(d, 90):.1f} m, farther than 200 m: {(d > 200).mean():.1%}"
    )


def holdout(root: Path, *, seed: int = 5) -> None:
    """Ground truth for the levels below *exact*: hide city points, then find them.

    3 % of the block faces lose all their points (their labels must be found by the
    intersection or grid levels) and 5 % of the remaining points are hidden one by one (found
    by interpolation between their neighbours); the city's own positions are the truth.
    """
    rng = np.random.default_rng(seed)
    points = loaders.load_addresses(root)
    parsed = parse_official(points["address"])
    ok = parsed["ok"].to_numpy()
    faces = parsed.loc[ok, "face"].unique()
    hidden_faces = pd.Index(rng.choice(faces, size=int(0.03 * len(faces)), replace=False))
    face_out = ok & (hidden_faces.get_indexer(pd.Index(parsed["face"].fillna(""))) >= 0)
    point_out = ok & ~face_out & (rng.random(len(points)) < 0.05)
    t0 = time.perf_counter()
    index = build_index(
        points[~(face_out | point_out)],
        loaders.load_streets(root),
        loaders.load_localities(root),
        loaders.load_upz(root),
    )
    seconds = time.perf_counter() - t0
    print(f"\n== hold-out (index rebuilt without the hidden points in {seconds:.0f} s)")
    x, y = metric_xy(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    for name, mask in (("hidden faces", face_out), ("hidden points", point_out)):
        frame = pd.DataFrame({"label": parsed.loc[mask, "label"], "x": x[mask], "y": y[mask]})
        frame = frame.drop_duplicates("label")
        result = geocode_addresses(frame["label"].reset_index(drop=True), index=index)
        gx, gy = metric_xy(result["lon"].to_numpy(), result["lat"].to_numpy())
        err = np.hypot(gx - frame["x"].to_numpy(), gy - frame["y"].to_numpy())
        level = result["match_level"].to_numpy()
        counts = pd.Series(level).value_counts()
        print(f"{name}: {len(frame)} labels; " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for lv in ("exact", "interpolated", "intersection", "grid"):
            m = (level == lv) & np.isfinite(err)
            if m.any():
                print(f"   {lv:13s} n={m.sum():6d} median {np.median(err[m]):7.1f} m"
                      f"  p90 {np.percentile(err[m], 90):8.1f} m")  # fmt: skip


def messy(labels: np.ndarray, rows: int, seed: int = 7) -> list[str]:
    """Perturb official labels the way people type them."""
    rng = np.random.default_rng(seed)
    pick = labels[rng.integers(0, len(labels), rows)]
    types = {
        "CL": ["Calle", "CALLE", "Cll", "Cl.", "calle", "CL", "Clle"],
        "KR": ["Carrera", "CRA", "Cra.", "Kr", "KRA", "carrera", "Cr"],
        "AC": ["Avenida Calle", "AC", "Av. Calle"],
        "AK": ["Avenida Carrera", "AK", "Av Cra"],
        "DG": ["Diagonal", "DG", "Diag."],
        "TV": ["Transversal", "TV", "Tv."],
    }
    seps = [" # ", " No. ", " N° ", " #", " No ", " "]
    tails = ["", "", "", " apto 301", ", Bogotá", "  BOGOTA CO", " int 2", " torre 3 apto 502",
             " barrio Kennedy", ", Bogotá D.C."]  # fmt: skip
    out = []
    r = rng.random((rows, 6))
    for i, label in enumerate(pick):
        head, _, tail = label.partition(", ")
        kind, _, street = head.partition(" ")
        street = street.replace(" S", " Sur" if r[i, 0] < 0.5 else " S")
        street = street.replace(" E", " Este")
        parts = tail.split(" ")
        if len(parts) < 2:
            out.append(label)
            continue
        cross, house = parts[0], parts[1]
        card = {"S": " Sur", "E": " Este"}.get(parts[2], "") if len(parts) > 2 else ""
        if r[i, 1] < 0.3:  # a house number that no point has
            house = str(min(99, int(house) + 1))
        if r[i, 2] < 0.3:
            code, _, card_s = street.partition(" ")
            spaced = re.sub(r"(?<=\d)(?=[A-Z])|(?<=[A-Z])(?=BIS)|(?<=BIS)(?=[A-Z])", " ", code)
            street = spaced + (f" {card_s}" if card_s else "")
        names = types.get(kind, [kind])
        text = (
            f"{names[int(r[i, 3] * len(names))]} {street}{seps[int(r[i, 4] * len(seps))]}"
            f"{cross}-{house}{card}{tails[int(r[i, 5] * len(tails))]}"
        )
        out.append(text.lower() if r[i, 0] > 0.9 else text)
    return out


def throughput(index, rows: int) -> None:
    labels = np.asarray(index.labels)
    texts = pd.Series(messy(labels, rows))
    print(f"\n== throughput: {rows:,} messy addresses ({texts.nunique():,} distinct texts)")
    canonical = pd.Series(labels[np.random.default_rng(3).integers(0, len(labels), rows)])
    t0 = time.perf_counter()
    lookup = pd.Series(np.arange(len(labels)), index=pd.Index(labels))
    base_hits = lookup.reindex(canonical.to_numpy()).notna().sum()
    base = time.perf_counter() - t0
    print(
        f"baseline (dict lookup of already-canonical labels): {rows / base:,.0f} /s "
        f"({base_hits:,} hits)"
    )
    t0 = time.perf_counter()
    result = geocode_addresses(texts, index=index)
    seconds = time.perf_counter() - t0
    rate = rows / seconds
    print(
        f"geocoder: {seconds:.1f} s, {rate:,.0f} addresses/s (target >= 10,000/s; 1M in "
        f"< 120 s), {rate / (rows / base):.3f} x baseline"
    )
    print("levels: " + ", ".join(f"{k} {v}" for k, v in
                                 result["match_level"].value_counts().items()))  # fmt: skip
    small = texts.iloc[:20_000]
    t0 = time.perf_counter()
    geocode_addresses(small, index=index)
    print(f"20,000-row drop: {time.perf_counter() - t0:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--worst", type=int, default=20)
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--skip-holdout", action="store_true")
    args = parser.parse_args()
    root = resolve_data_dir(None)
    print(f"data: {root}")
    with tempfile.TemporaryDirectory(prefix="bench_geocode_") as tmp:
        if not args.skip_build:
            t0 = time.perf_counter()
            index = load_index(root, cache_dir=tmp)
            print(f"index build (fresh, incl. reading the layers): {time.perf_counter() - t0:.1f} s"
                  f"  {index.summary()}")  # fmt: skip
            t0 = time.perf_counter()
            index = load_index(root, cache_dir=tmp)
            print(f"index load from its disk cache: {time.perf_counter() - t0:.1f} s")
        else:
            index = load_index(root)
        official = Official(root)
        schools = loaders.load_schools(root)
        sx, sy = metric_xy(schools.geometry.x.to_numpy(), schools.geometry.y.to_numpy())
        school_xy = np.column_stack([sx, sy])
        reference_noise(schools, school_xy, official)
        accuracy("schools (colegios.geojson)", schools["address"], school_xy, index, official,
                 args.worst)  # fmt: skip
        stops = loaders.load_sitp_stops(root)
        tx, ty = metric_xy(stops.geometry.x.to_numpy(), stops.geometry.y.to_numpy())
        stop_xy = np.column_stack([tx, ty])
        accuracy("SITP stops (intersection labels)", stops["label"], stop_xy, index, official,
                 args.worst)  # fmt: skip
        accuracy("SITP stops, with their locality given", stops["label"], stop_xy, index,
                 official, 0, localities=stops["loc_code"])  # fmt: skip
        del official
        if not args.skip_holdout:
            holdout(root)
        throughput(index, args.rows)
    print(f"\npeak memory: {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
