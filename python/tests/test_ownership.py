"""The store owns only what it created: BlobStore(mode=...) creates a store
only in a new or empty directory, opens existing ones read-write ("w") or
read-only ("r"), and verify never follows links nor removes foreign files."""

import os

import pytest

import blobstore
from blobstore import BlobStore


def listing(path):
    out = []
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = os.path.join(root, name)
            out.append((os.path.relpath(p, path), os.path.islink(p)))
    return sorted(out)


def test_default_mode_creates_a_new_or_empty_directory(tmp_path):
    with BlobStore(tmp_path / "new" / "store") as s:  # missing: created
        s.put(b"x", key="k")
    (tmp_path / "empty").mkdir()
    with BlobStore(tmp_path / "empty") as s:
        s.put(b"y", key="k")
    with BlobStore(tmp_path / "empty") as s:  # an existing store
        assert s.get("k") == b"y"


@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_default_mode_refuses_a_directory_with_other_files(tmp_path, backend):
    (tmp_path / "notes.txt").write_text("mine")
    before = listing(tmp_path)
    with pytest.raises(blobstore.ConflictError, match="not empty"):
        BlobStore(tmp_path, backend=backend)
    assert listing(tmp_path) == before
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("mode", ["w", "r"])
def test_existing_modes_refuse_what_is_not_a_store(tmp_path, mode):
    missing = tmp_path / "missing"
    with pytest.raises(blobstore.NotAStoreError) as e:
        BlobStore(missing, mode=mode)
    assert str(e.value) == f"{missing} is not a blobstore store (no blobstore.json)"
    assert isinstance(e.value, FileNotFoundError)
    assert not missing.exists()
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "a.txt").write_text("a")
    with pytest.raises(blobstore.NotAStoreError):
        BlobStore(tmp_path / "project", mode=mode)
    assert listing(tmp_path / "project") == [("a.txt", False)]


def test_bad_mode(tmp_path):
    with pytest.raises(ValueError, match="mode must be"):
        BlobStore(tmp_path, mode="x")


@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_read_only_mode(tmp_path, backend):
    with BlobStore(tmp_path / "s", backend=backend) as s:
        s.put(b"value", key="k", metadata={"a": 1})
    with BlobStore(tmp_path / "s", mode="w") as s:
        s.put(b"two", key="k2")
    with BlobStore(tmp_path / "s", mode="r") as s:
        assert s.get("k") == b"value"
        assert s.get_metadata("k")["metadata"] == {"a": 1}
        assert sorted(s.list()) == ["k", "k2"]
        assert s.exists("k2")
        with pytest.raises(blobstore.ReadOnlyError):
            s.put(b"x", key="x")
        with pytest.raises(PermissionError):
            s.delete("k")
        with pytest.raises(blobstore.ReadOnlyError):
            s.verify(repair=True)
        r = s.verify()
        assert r["ok"] == 2 and r["problems"] == []
        assert s.get("k") == b"value"


def test_verify_reports_foreign_files_and_links(tmp_path):
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "precious.txt").write_bytes(b"precious")
    store = tmp_path / "s"
    with BlobStore(store) as s:
        s.put(os.urandom(5000), key="k")
    (store / "tmp" / "scratch.txt").write_text("scratch")
    (store / "tmp" / "link").symlink_to(decoy / "precious.txt")
    with BlobStore(store, mode="w") as s:
        r = s.verify(repair=True)
    assert r["foreign"] == 2
    assert sorted(p["blob"] for p in r["problems"]) == ["tmp/link", "tmp/scratch.txt"]
    assert all(not p["repaired"] for p in r["problems"])
    assert (store / "tmp" / "scratch.txt").read_text() == "scratch"
    assert (decoy / "precious.txt").read_bytes() == b"precious"


@pytest.fixture
def request_cleanup():
    fns = []
    yield fns
    for fn in fns:
        fn()


def _nobody_can_run_python():
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    r = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable,
         "-c", "import blobstore"],
        capture_output=True,
    )
    return r.returncode == 0


@pytest.mark.parametrize("backend", ["json", "sqlite"])
def test_a_user_who_may_only_read(request_cleanup, backend):
    """mode="r" as an unprivileged user (root runs the suite: setpriv to nobody)."""
    import subprocess
    import sys

    import pathlib
    import shutil
    import tempfile

    if not _nobody_can_run_python():
        pytest.skip("needs root, setpriv and a package nobody can import")
    top = tempfile.mkdtemp(prefix="bs-readonly-")  # pytest's own base is root-only
    os.chmod(top, 0o755)
    request_cleanup.append(lambda: shutil.rmtree(top))
    store = pathlib.Path(top) / "s"
    data = os.urandom(20000)
    with BlobStore(store, backend=backend) as s:
        s.put(data, key="big", metadata={"a": 1})
        s.put(b"small", key="small")
    for root, dirs, files in os.walk(store):
        for n in dirs + files:
            os.chmod(os.path.join(root, n), 0o755 if n in dirs else 0o644)
    before = listing(store)
    code = f"""
import blobstore
with blobstore.BlobStore({str(store)!r}, mode="r") as s:
    assert s.get("big") == bytes.fromhex({data.hex()!r})
    assert s.get("small") == b"small"
    assert s.get_metadata("big")["metadata"] == {{"a": 1}}
    assert sorted(s.list()) == ["big", "small"]
    assert s.exists("small")
    assert s.verify()["ok"] == 2
    try:
        s.put(b"x", key="x")
    except blobstore.ReadOnlyError:
        pass
    else:
        raise SystemExit("put succeeded")
print("ok")
"""
    r = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c",
         code],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
    assert listing(store) == before
