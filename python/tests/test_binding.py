"""The C binding itself (issue 14): module state per module instance
(multi-phase initialisation) and close() against calls in progress on other
threads."""

import importlib.util
import threading
import time

import pytest

import blobstore
from blobstore import BlobStore, InvalidArgumentError, _core
from blobstore.backends import DictBlobBackend


def test_types_are_heap_types_of_the_module():
    HEAPTYPE = 1 << 9
    assert _core.Store.__flags__ & HEAPTYPE
    assert _core.Buffer.__flags__ & HEAPTYPE
    assert _core.Store.__module__ == "blobstore._core"
    with pytest.raises(TypeError):
        _core.Buffer()  # made by the library only


def test_second_module_instance_has_its_own_state(tmp_path):
    # A multi-phase module can be instantiated again (as a subinterpreter
    # does): the second instance has its own types and exception classes, and
    # its stores raise its own exceptions.
    spec = importlib.util.find_spec("blobstore._core")
    m2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m2)
    assert m2 is not _core
    assert m2.Store is not _core.Store
    assert m2.InvalidArgumentError is not _core.InvalidArgumentError
    assert issubclass(m2.NotFoundError, KeyError) and issubclass(m2.NotFoundError, m2.Error)
    s = m2.Store(cache_dir=str(tmp_path / "s"))
    s.put("k", b"abc")
    assert bytes(s.get("k")) == b"abc"
    assert type(s.get("k")) is m2.Buffer
    s.close()
    with pytest.raises(m2.InvalidArgumentError) as e:
        s.get("k")
    assert not isinstance(e.value, _core.InvalidArgumentError)
    assert "closed" in str(e.value)


class GateBackend(DictBlobBackend):
    """Blob gets wait at a gate while armed: a call stays in progress."""

    def __init__(self):
        super().__init__()
        self.armed = False
        self.inside = threading.Event()
        self.gate = threading.Event()
        self.on_get = None

    def get(self, name):
        if self.armed:
            self.inside.set()
            if self.on_get:
                self.on_get()
            assert self.gate.wait(10)
        return super().get(name)


def test_close_waits_for_a_call_in_progress(tmp_path):
    be = GateBackend()
    store = BlobStore(tmp_path / "s", blob_backend=be)
    value = bytes(range(256)) * 64  # not inline: read from the backend
    store.put(value, key="k")
    be.armed = True
    got, closed = [], threading.Event()

    def reader():
        got.append(store.get("k"))

    def closer():
        store.close()
        closed.set()

    t1 = threading.Thread(target=reader)
    t1.start()
    assert be.inside.wait(10)
    assert store._store.busy() == 1
    t2 = threading.Thread(target=closer)
    t2.start()
    time.sleep(0.3)
    assert not closed.is_set()  # close waits for the get
    with pytest.raises(InvalidArgumentError, match="closed"):
        store.exists("k")  # new calls are turned away meanwhile
    be.gate.set()
    t1.join(10)
    t2.join(10)
    assert closed.is_set()
    assert got == [value]  # the get finished on an open handle
    assert store._store.busy() == 0
    with pytest.raises(InvalidArgumentError, match="closed"):
        store.get("k")
    store.close()  # a second close is a no-op


def test_close_from_inside_a_call_is_refused(tmp_path):
    be = GateBackend()
    store = BlobStore(tmp_path / "s", blob_backend=be)
    store.put(b"x" * 10000, key="k")
    errors = []

    def close_inside():
        try:
            store.close()
        except InvalidArgumentError as e:
            errors.append(str(e))
        be.gate.set()

    be.on_get = close_inside
    be.armed = True
    assert store.get("k") == b"x" * 10000
    assert errors and "inside a call" in errors[0]
    be.armed = False
    assert store.get("k") == b"x" * 10000  # still open
    store.close()


def test_many_threads_and_a_close(tmp_path):
    store = BlobStore(tmp_path / "s")
    for i in range(20):
        store.put(bytes([i]) * 5000, key=f"k{i}")
    stop = threading.Event()
    outcomes = []

    def worker(i):
        n = 0
        while not stop.is_set():
            try:
                assert store.get(f"k{i % 20}") == bytes([i % 20]) * 5000
                n += 1
            except InvalidArgumentError as e:
                assert "closed" in str(e)
                outcomes.append(n)
                return
        outcomes.append(n)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    store.close()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(outcomes) == 6 and all(n > 0 for n in outcomes)
    assert store._store.busy() == 0


def test_version():
    assert blobstore.__version__ == _core.library_version


def test_close_waits_for_a_batch_of_another_thread(tmp_path):
    store = BlobStore(tmp_path / "s")
    in_batch, go_on, closed = threading.Event(), threading.Event(), threading.Event()
    errors = []

    def batcher():
        try:
            with store.batch():
                store["a"] = b"1"
                in_batch.set()
                assert go_on.wait(10)
                store["b"] = b"2"  # still allowed: close() waits for the batch
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    def closer():
        store.close()
        closed.set()

    t1 = threading.Thread(target=batcher)
    t1.start()
    assert in_batch.wait(10)
    t2 = threading.Thread(target=closer)
    t2.start()
    time.sleep(0.3)
    assert not closed.is_set()
    go_on.set()
    t1.join(10)
    t2.join(10)
    assert closed.is_set() and errors == []
    with BlobStore(tmp_path / "s") as again:
        assert again.get_many(["a", "b"]) == {"a": b"1", "b": b"2"}


def test_close_inside_own_batch_is_refused(tmp_path):
    store = BlobStore(tmp_path / "s")
    with store.batch():
        store["a"] = b"1"
        with pytest.raises(InvalidArgumentError, match="inside a batch"):
            store.close()
    assert store["a"] == b"1"
    store.close()
