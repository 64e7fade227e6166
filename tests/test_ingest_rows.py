from __future__ import annotations

import numpy as np

from geo_integration.ingest_rows import KeySet


def test_key_set_membership_and_merging() -> None:
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 2**63, 5000, dtype=np.uint64)
    known = KeySet()
    for start in range(0, 4000, 250):  # many small runs, merged as they come
        known.add(keys[start : start + 250])
    assert len(known) == 4000
    assert known.contains(keys[:4000]).all()
    assert not known.contains(keys[4000:]).any()
    assert len(known._runs) <= 6  # runs of similar size were merged
    other = KeySet()
    other.add(np.concatenate([keys[4000:4100], keys[4000:4010]]))  # repeats counted once
    known.update(other)
    assert len(known) == 4100 and known.contains(keys[4050:4060]).all()
    assert not KeySet().contains(keys[:3]).any()
