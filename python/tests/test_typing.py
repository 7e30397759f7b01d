"""Issue 13: type hints and help. The package ships py.typed and stubs that
mypy's stubtest checks against the runtime; mypy accepts a typical program
and catches a wrong one; every public method has a docstring with an
example."""

import inspect
import os
import subprocess
import sys
import textwrap

import pytest

import blobstore
from blobstore import ArrayHandle, BlobReader, BlobStore, BlobWriter

PKG = os.path.dirname(blobstore.__file__)


def test_the_package_is_typed():
    assert os.path.exists(os.path.join(PKG, "py.typed"))
    assert os.path.exists(os.path.join(PKG, "__init__.pyi"))
    assert os.path.exists(os.path.join(PKG, "_core.pyi"))


def mypy(*args, cwd=None):
    pytest.importorskip("mypy")
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_stubs_match_the_runtime(tmp_path):
    # stubtest imports blobstore and compares every name, signature and
    # default of the stubs with the objects themselves.
    cfg = tmp_path / "mypy.ini"
    cfg.write_text("[mypy]\nignore_missing_imports = True\n")
    r = mypy("mypy.stubtest", "blobstore", "--mypy-config-file", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


GOOD = """
from typing import Any, Dict, List, Optional
from blobstore import BlobStore, NotFoundError, ArrayHandle, BlobReader, BlobWriter

with BlobStore("./s", backend="sqlite", compression="zstd", mode="c") as store:
    key: str = store.put(b"x", key="a", metadata={"n": 1})
    store["b"] = [1, 2, 3]
    value: Any = store.get("a", b"default", slice=(slice(0, 2), 1))
    keys: List[str] = store.list(prefix="a", metadata_filter={"n": {"$gt": 0}}, limit=2)
    meta: Optional[Dict[str, Any]] = store.get_metadata("a")
    for k, m in store.entries(order_by="-n"):
        print(k.upper(), m["size"])
    with store.batch():
        done: List[str] = store.put_many({"c": b"1"}, metadata={"run": 1})
    got: Dict[str, Any] = store.get_many(["a", "c"])
    r: BlobReader = store.open("a")
    w: BlobWriter = store.open(None, "wb", metadata={"x": 1})
    arr: ArrayHandle = store.open_array("b")
    n: int = len(store) + store.get_file("a", "out.bin")
    ok: bool = "a" in store and store.update_metadata("a", {"m": 2})
"""

BAD = """
from blobstore import BlobStore
store = BlobStore("./s")
store.put(b"x", key=3)
n: str = store.clear()
store.list(prefix=1)
store.open("k", "rw")
"""


def test_mypy_accepts_use_and_catches_misuse(tmp_path):
    (tmp_path / "good.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "bad.py").write_text(textwrap.dedent(BAD))
    flags = ["--no-incremental", "--cache-dir", os.devnull, "--ignore-missing-imports"]
    r = mypy("mypy", *flags, "good.py", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = mypy("mypy", *flags, "bad.py", cwd=tmp_path)
    assert r.returncode == 1
    lines = [line for line in r.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in lines] == ["4", "5", "6", "7"], r.stdout


PUBLIC = [BlobStore, ArrayHandle, BlobReader, BlobWriter]


def public_methods(cls):
    for name, obj in vars(cls).items():
        if callable(obj) and (not name.startswith("_") or name in (
                "__getitem__", "__setitem__", "__delitem__", "__contains__", "__len__",
                "__iter__")):
            yield name, obj


def test_every_public_method_has_a_docstring_with_an_example():
    missing, no_example = [], []
    for cls in PUBLIC:
        assert cls.__doc__, cls
        for name, fn in public_methods(cls):
            doc = inspect.getdoc(fn)
            if not doc:
                missing.append(f"{cls.__name__}.{name}")
            elif cls is BlobStore and not name.startswith("_") and ">>>" not in doc:
                no_example.append(f"{cls.__name__}.{name}")
    assert missing == [] and no_example == []


def test_exceptions_are_documented():
    doc = inspect.getdoc(BlobStore)
    for name in ["NotFoundError", "CorruptError", "InvalidArgumentError", "ConflictError",
                 "UnsupportedError", "NotAStoreError", "ReadOnlyError", "KeyExistsError",
                 "UnsafePickleError"]:
        exc = getattr(blobstore, name)
        assert issubclass(exc, blobstore.Error) and exc.__doc__, name
        assert name in doc, name


def test_help_renders():
    import pydoc

    text = pydoc.render_doc(BlobStore.put, renderer=pydoc.plaintext)
    assert "overwrite" in text or "chunks" in text
    assert ">>> store.put(" in text
