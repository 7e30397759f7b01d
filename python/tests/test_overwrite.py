"""Issue 13: put(..., overwrite=False) refuses a key that exists with
KeyExistsError and stores nothing (the C flag BLOBSTORE_PUT_NO_OVERWRITE),
for every kind of value and every way in."""

import threading

import numpy as np
import pandas as pd
import pytest

from blobstore import BlobStore, Error, KeyExistsError

VALUES = [
    b"raw bytes",
    {"a": [1, 2, 3]},
    np.arange(24, dtype=np.int16).reshape(4, 6),
    pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}),
]


@pytest.mark.parametrize("new", VALUES, ids=["bytes", "pickle", "array", "table"])
@pytest.mark.parametrize("old", VALUES, ids=["bytes", "pickle", "array", "table"])
def test_an_existing_key_is_refused_and_kept(store, old, new):
    store.put(old, key="k", metadata={"v": 1})
    before = store.get_metadata("k")
    with pytest.raises(KeyExistsError) as e:
        store.put(new, key="k", metadata={"v": 2}, overwrite=False)
    assert isinstance(e.value, Error) and "k" in str(e.value)
    after = store.get_metadata("k")
    assert after == before  # nothing changed, metadata and blob
    got = store["k"]
    if isinstance(old, pd.DataFrame):
        pd.testing.assert_frame_equal(got, old)
    elif isinstance(old, np.ndarray):
        np.testing.assert_array_equal(got, old)
    else:
        assert got == old
    assert store.put(new, key="k2", overwrite=False) == "k2"  # a new key goes in
    v = store.verify()
    assert v["problems"] == [] and v["orphans"] == 0


def test_streams_files_and_batches(store, tmp_path):
    store["k"] = b"old"
    src = tmp_path / "f.bin"
    src.write_bytes(b"file bytes")
    with pytest.raises(KeyExistsError):
        store.put_file(src, key="k", overwrite=False)
    with pytest.raises(KeyExistsError):
        with store.open("k", "wb", overwrite=False) as f:
            f.write(b"new" * 100000)
    assert store["k"] == b"old"
    with store.open("fresh", "wb", overwrite=False) as f:
        f.write(b"fresh")
    assert store["fresh"] == b"fresh"
    with pytest.raises(KeyExistsError):
        store.put_many({"a": b"1", "k": b"2", "b": b"3"}, overwrite=False)
    assert "a" not in store and "b" not in store and store["k"] == b"old"
    assert store.put_many({"a": b"1", "k": b"2"}) == ["a", "k"]  # default: replace
    assert store["k"] == b"2"
    assert store.verify()["problems"] == []


def test_racing_puts_one_wins(tmp_path):
    store = BlobStore(tmp_path / "s", backend="sqlite")
    for round_ in range(10):
        key = f"race{round_}"
        results, start = [], threading.Barrier(4)

        def put(i):
            start.wait()
            try:
                store.put(bytes([i]) * 50000, key=key, overwrite=False)
                results.append(("ok", i))
            except KeyExistsError:
                results.append(("exists", i))

        threads = [threading.Thread(target=put, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [i for what, i in results if what == "ok"]
        assert len(winners) == 1 and len(results) == 4
        assert store[key] == bytes([winners[0]]) * 50000
    v = store.verify()
    assert v["problems"] == [] and v["orphans"] == 0
    store.close()
