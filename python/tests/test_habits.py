"""Issue 13: the dict habits (store[key], del, in, len, iter, get with a
default), entries(), and batches (put_many, get_many, with store.batch())."""

import threading

import pytest

from blobstore import BlobStore, InvalidArgumentError, NotFoundError
from blobstore.backends import DictMetadataBackend


def test_dict_habits_against_a_dict(store):
    import random

    rng = random.Random(1313)
    model = {}
    for step in range(300):
        key = f"k{rng.randrange(40):02d}"
        op = rng.random()
        if op < 0.5:
            value = rng.choice([bytes(rng.randrange(256) for _ in range(rng.randrange(50))),
                                {"n": step}, [step, "x"], None, 0])
            store[key] = value
            model[key] = value
        elif op < 0.7:
            if key in model:
                del store[key]
                del model[key]
            else:
                with pytest.raises(KeyError):
                    del store[key]
        else:
            if key in model:
                assert store[key] == model[key]
            else:
                with pytest.raises(KeyError):
                    store[key]
        assert (key in store) == (key in model)
        assert store.get(key, "dflt") == model.get(key, "dflt")
    assert len(store) == len(model)
    assert list(store) == sorted(model)
    assert store.keys() == sorted(model)
    assert dict(store.items()) == model
    assert list(store.values()) == [model[k] for k in sorted(model)]


def test_a_stored_none_is_not_absent(store):
    store["n"] = None
    assert "n" in store
    assert store["n"] is None
    assert store.get("n", 5) is None  # stored None, not the default
    assert store.get("absent", 5) == 5
    with pytest.raises(NotFoundError) as e:
        store["absent"]
    assert isinstance(e.value, KeyError)


def test_contains_other_types_is_false(store):
    assert 3 not in store
    assert None not in store
    with pytest.raises(ValueError):
        store[3] = b"x"


def test_entries_are_key_and_metadata(store):
    store.put(b"a", key="m1", metadata={"loss": 0.5})
    store.put(b"b", key="m2", metadata={"loss": 0.2})
    store.put(b"c", key="x", metadata={"loss": 0.1})
    got = store.entries(prefix="m", order_by="loss")
    assert [k for k, _ in got] == ["m2", "m1"]
    assert got[0][1]["metadata"] == {"loss": 0.2}
    assert got[0][1]["size"] == 1
    assert store.entries(order_by="-loss", limit=1, offset=1)[0][0] == "m2"
    assert dict(store.items(prefix="m")) == {"m1": b"a", "m2": b"b"}


class CountingMeta(DictMetadataBackend):
    def __init__(self):
        super().__init__()
        self.commits = 0
        self.rollbacks = 0

    def commit(self):
        self.commits += 1
        super().commit()

    def rollback(self):
        self.rollbacks += 1
        super().rollback()


def test_put_many_is_one_transaction(tmp_path):
    meta = CountingMeta()
    store = BlobStore(tmp_path / "s", backend=meta)
    values = {f"row/{i:03d}": bytes([i]) * (i * 100) for i in range(50)}
    before = meta.commits
    keys = store.put_many(values, metadata={"run": 7})
    assert meta.commits - before == 1  # the 50 puts committed together
    assert keys == list(values)
    assert store.get_many(list(values) + ["nope"]) == values
    assert store.get_metadata("row/010")["metadata"] == {"run": 7}
    # one by one: a commit each
    before = meta.commits
    for i in range(5):
        store.put(b"x", key=f"single/{i}")
    assert meta.commits - before == 5
    store.close()


def test_put_many_all_or_nothing(store):
    store.put(b"old", key="a")

    class Boom:
        def __reduce__(self):
            raise RuntimeError("cannot pickle this")

    with pytest.raises(ValueError, match="cannot pickle"):
        store.put_many([("a", b"new"), ("b", b"bee"), ("c", Boom())])
    assert store["a"] == b"old"  # the batch rolled back
    assert "b" not in store and "c" not in store
    v = store.verify()
    assert v["orphans"] == 0 and v["problems"] == []


def test_batch_context_commits_rolls_back_and_nests(tmp_path):
    meta = CountingMeta()
    store = BlobStore(tmp_path / "s", backend=meta)
    store["keep"] = b"1"
    before = meta.commits
    with store.batch():
        store["a"] = b"A"
        with store.batch():  # nested: part of the outer one
            store["b"] = b"B"
            del store["keep"]
        store.update_metadata("a", {"tag": 1})
    assert meta.commits - before == 1
    assert store.get_many(["a", "b", "keep"]) == {"a": b"A", "b": b"B"}
    with pytest.raises(ZeroDivisionError):
        with store.batch():
            store["c"] = b"C"
            del store["a"]
            1 / 0
    assert "c" not in store and store["a"] == b"A"
    assert meta.rollbacks >= 1
    assert store.verify()["problems"] == []
    store.close()


def test_other_threads_wait_for_a_batch(store):
    entered, results = threading.Event(), []

    def other():
        entered.wait(10)
        results.append(store.get("x"))  # waits for the batch: sees it whole

    t = threading.Thread(target=other)
    t.start()
    with store.batch():
        store["x"] = b"1"
        entered.set()
        t.join(0.3)
        assert t.is_alive()  # blocked until the batch ends
        store["x"] = b"2"
    t.join(10)
    assert results == [b"2"]


def test_open_inside_a_batch_is_refused(store):
    store["x"] = b"1"
    with store.batch():
        with pytest.raises(ValueError, match="batch"):
            store.open("x", "rb")
    with pytest.raises(InvalidArgumentError):
        store._store.batch_commit()  # no batch open
