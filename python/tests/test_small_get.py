"""The get path of small values (issue 16): bytes and pickles come back from
one call into C (Store.get_value), which checks a pickle's signature (HMAC
under the store's key) and its content hash there. Compared with Python's own
hmac/hashlib, and with the values as put."""

import hashlib
import hmac
import json
import struct

import numpy as np
import pytest

import blobstore
from blobstore import BlobStore


class _Counting:
    """The binding's Store with each method call counted."""

    def __init__(self, store):
        self._s = store
        self.calls = []

    def __getattr__(self, name):
        attr = getattr(self._s, name)
        if not callable(attr):
            return attr

        def call(*a, **k):
            self.calls.append(name)
            return attr(*a, **k)

        return call


@pytest.mark.parametrize("backend", ["sqlite", "json"])
def test_values_round_trip_in_one_call(tmp_path, backend):
    values = {
        "empty": b"",
        "one": b"x",
        "small": bytes(range(200)),
        "large": bytes(range(256)) * 40,  # a blob file, not inline
        "dict": {"id": 7, "tags": ["a", "b"], "x": 0.5},
        "arrays": {"a": np.arange(1000.0), "b": np.zeros((3, 4), dtype=np.int8)},
        "none": None,
    }
    with BlobStore(tmp_path / "s", backend=backend) as s:
        for k, v in values.items():
            s.put(v, key=k)
        counting = _Counting(s._store)
        s._store = counting
        try:
            for k, v in values.items():
                counting.calls.clear()
                got = s.get(k)
                # (the read cache's counters first, where the index keeps them)
                assert [c for c in counting.calls if c != "changes"] == ["get_value"], k
                if isinstance(v, dict) and k == "arrays":
                    assert np.array_equal(got["a"], v["a"]) and np.array_equal(got["b"], v["b"])
                else:
                    assert got == v and type(got) is type(v)
            counting.calls.clear()
            assert s.get("nope", 5) == 5
            assert [c for c in counting.calls if c != "changes"] == ["get_value"]
        finally:
            s._store = counting._s


def _pickle_parts(obj):
    import pickle

    body = pickle.dumps(obj, protocol=5)
    header = b"BSPK\x01" + struct.pack("<IQ", 0, len(body))
    return [header, body], hashlib.sha256(header + body).hexdigest()


def _sign(secret, key, content_hash):
    msg = b"\0".join([key.encode(), b"pickle", content_hash.encode()])
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def test_signature_is_checked_in_c_as_python_computes_it(tmp_path):
    with BlobStore(tmp_path / "s") as s:
        secret = s._secret_key()
        parts, h = _pickle_parts({"v": 1})
        key = "ké/y"  # not ASCII: signed as UTF-8
        s._store.put(key, parts, None, format="pickle",
                     format_info=json.dumps({"signature": _sign(secret, key, h)}))
        assert s.get(key) == {"v": 1}
        # signed for another key, for other content, with another secret, or
        # unsigned: refused by the one-call path, loaded only with trust=True
        bad = {
            "other-key": _sign(secret, "other", h),
            "other-content": _sign(secret, "k2", "0" * 64),
            "other-secret": _sign(b"\1" * 32, "k3", h),
            "upper-case": _sign(secret, "k4", h).upper(),
            "short": _sign(secret, "k5", h)[:63],
        }
        for k, sig in bad.items():
            s._store.put(k, parts, None, format="pickle",
                         format_info=json.dumps({"signature": sig}))
        s._store.put("unsigned", parts, None, format="pickle")
        s._store.put("not-a-str", parts, None, format="pickle",
                     format_info=json.dumps({"signature": 12}))
        for k in [*bad, "unsigned", "not-a-str"]:
            with pytest.raises(blobstore.UnsafePickleError, match="signature is missing or wrong"):
                s.get(k)
            with pytest.raises(blobstore.UnsafePickleError):
                s[k]
            assert s.get(k, trust=True) == {"v": 1}


def test_the_signing_key_is_loaded_when_a_pickle_is_first_read(tmp_path):
    path = tmp_path / "s"
    with BlobStore(path) as s:
        s.put([1, 2, 3], key="p")
    (path / "pickle_secret.key").chmod(0o666)
    with BlobStore(path) as s:
        assert s.get("p", trust=True) == [1, 2, 3]
        with pytest.raises(blobstore.UnsafePickleError, match="mode 0666"):
            s.get("p")
    (path / "pickle_secret.key").chmod(0o600)
    with BlobStore(path) as s:
        assert s._secret is None
        assert s.get("p") == [1, 2, 3]
        assert s._secret is not None


_WRITER = """
import sys
from blobstore import BlobStore
with BlobStore(sys.argv[1]) as s:
    s.put(b"v2", key="k")
    s.put({"n": 2}, key="p")
    s.delete("d")
"""


def test_read_cache_is_coherent_across_processes_and_handles(tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "s"
    with BlobStore(path, backend="sqlite") as s:
        s.put(b"v1", key="k")
        s.put({"n": 1}, key="p")
        s.put(b"gone", key="d")
        counting = _Counting(s._store)
        s._store = counting
        try:
            assert s.get("k") == b"v1" and s.get("p") == {"n": 1} and s.get("d") == b"gone"
            counting.calls.clear()
            # cached: no read of the entry, a fresh object for a pickle
            assert s.get("k") == b"v1" and s.get("d") == b"gone"
            a, b = s.get("p"), s.get("p")
            assert a == b == {"n": 1} and a is not b
            assert counting.calls == ["changes"] * 4
            # another process writes and deletes: seen at the next get
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
            subprocess.run([sys.executable, "-c", _WRITER, str(path)], check=True, env=env)
            assert s.get("k") == b"v2"
            assert s.get("p") == {"n": 2}
            assert s.get("d") is None and "d" not in s
            # another handle in this process
            with BlobStore(path) as other:
                other.put(b"v3", key="k")
            assert s.get("k") == b"v3"
            # this handle's own writes, a rolled-back batch, an update
            s.put(b"v4", key="k")
            assert s.get("k") == b"v4"
            s.delete("k")
            assert s.get("k") is None
            s.put(b"v5", key="k")
            assert s.get("k") == b"v5"
            with pytest.raises(RuntimeError):
                with s.batch():
                    s.put(b"rolled back", key="k")
                    assert s.get("k") == b"rolled back"
                    raise RuntimeError
            assert s.get("k") == b"v5"
        finally:
            s._store = counting._s


def test_read_cache_keeps_no_unchecked_pickle(tmp_path):
    with BlobStore(tmp_path / "s") as s:
        parts, h = _pickle_parts({"v": 1})
        s._store.put("unsigned", parts, None, format="pickle")
        assert s.get("unsigned", trust=True) == {"v": 1}
        with pytest.raises(blobstore.UnsafePickleError):
            s.get("unsigned")  # not served from the cache the trusted get filled


def test_read_cache_serves_pickles_with_buffers_as_put(tmp_path):
    """A cached pickle is kept as its parsed body and out-of-band buffers:
    every hit is a fresh object equal to the value put, arrays included;
    plain types (which skip the typed writers at put) keep their exact type."""
    import collections

    values = {
        "arr": {"a": np.arange(50.0), "b": np.ones((2, 3), dtype=np.int16)},  # out of band
        "dict": {"x": [1, 2.5, "s"], "t": (1, None), "f": frozenset({3})},
        "od": collections.OrderedDict(z=1, a=2),  # a dict subclass
        "list": [1, [2, [3]]],
        "str": "text",
        "int": 2**70,
        "tuple": (1, "a"),
        "bool": True,
        "float": 0.25,
        "complex": 1 + 2j,
        "set": {1, 2},
    }
    with BlobStore(tmp_path / "s", backend="sqlite") as s:
        for k, v in values.items():
            s.put(v, key=k)
        for _ in range(3):  # a miss (fills the cache), then hits
            for k, v in values.items():
                a, b = s.get(k), s.get(k)
                if k == "arr":
                    for got in (a, b):
                        assert got.keys() == v.keys()
                        for name in v:
                            assert np.array_equal(got[name], v[name])
                            assert got[name].dtype == v[name].dtype
                    assert a["a"] is not b["a"]
                else:
                    assert a == v and b == v and type(a) is type(v), k
                    if isinstance(v, (dict, list, set)):
                        assert a is not b
        with pytest.raises(ValueError):
            s.put({"a": 1}, key="c", chunks=(1,))  # chunks= is for arrays


def test_signature_equals_hmac_new(tmp_path):
    """_signature's HMAC (inner and outer SHA-256 states kept per handle)
    against the standard library's hmac.new, for seeded random keys of
    several lengths (the store's own is 32 bytes) and random messages."""
    import random

    seed = random.randrange(2**32)
    print("seed", seed)
    rng = random.Random(seed)
    with BlobStore(tmp_path / "s") as s:
        for klen in (32, 0, 1, 63, 64, 65, 200):
            s._secret = rng.randbytes(klen)
            s._hmac_pads = None
            for _ in range(20):
                key = "".join(rng.choice("abcé/_-0") for _ in range(rng.randrange(1, 40)))
                h = rng.randbytes(32).hex()
                want = hmac.new(s._secret, b"\0".join([key.encode(), b"pickle", h.encode()]),
                                hashlib.sha256).hexdigest()
                assert s._signature(key, "pickle", h) == want


def test_read_cache_holds_a_working_set_of_ten_thousand_small_values(tmp_path):
    """The cache is bounded by bytes (32 MiB), not by a count of entries: a
    second pass over 10,000 small values reads none of them from C."""
    n = 10000
    values = {f"k{i:05d}": {"id": i, "name": f"user{i:06d}", "pad": "x" * (i % 300)}
              for i in range(n)}
    with BlobStore(tmp_path / "s", backend="sqlite", durability="relaxed") as s:
        with s.batch():
            for k, v in values.items():
                s.put(v, key=k)
        for k, v in values.items():
            assert s.get(k) == v
        counting = _Counting(s._store)
        s._store = counting
        try:
            for k, v in values.items():
                assert s.get(k) == v
            assert "get_value" not in counting.calls
            # large values are not cached; the bytes bound still holds
            big = b"y" * 5000
            s._store = counting._s
            s.put(big, key="big")
            assert s.get("big") == big
            s._store = counting
            counting.calls.clear()
            assert s.get("big") == big
            assert counting.calls.count("get_value") == 1
        finally:
            s._store = counting._s
        assert s._cache_bytes <= 32 << 20
