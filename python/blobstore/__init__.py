"""blobstore: crash-safe storage of bytes, arrays, tables and Python objects
with queryable JSON metadata, on the libblobstore C core.

    from blobstore import BlobStore

    with BlobStore("./store", backend="sqlite") as store:
        store.put(b"weights", key="model_v1", metadata={"accuracy": 0.95})
        store.get("model_v1")
        store.list(prefix="model_", metadata_filter={"accuracy": {"$gt": 0.9}})

Values are stored by type: bytes-like objects as raw bytes, NumPy arrays as
Blosc2 ``.b2nd`` files, pandas DataFrames and Series as Parquet files, and
anything else as a pickle (protocol 5) that only this store, holding the
per-store secret key that signed it, will unpickle.
"""

import errno
import hashlib
import hmac
import json
import os
import pickle
import secrets
import stat
import struct
import tempfile
import threading
import weakref

from . import _core
from ._core import (
    ConflictError,
    CorruptError,
    Error,
    InvalidArgumentError,
    KeyExistsError,
    NotAStoreError,
    NotFoundError,
    ReadOnlyError,
    UnsupportedError,
)
from ._io import ArrayHandle, BlobReader, BlobWriter
from .backends import (
    BlobBackend,
    FilesystemBlobBackend,
    MemoryBlobBackend,
    MetadataBackend,
    S3BlobBackend,
)

__all__ = [
    "BlobStore",
    "Error",
    "NotFoundError",
    "CorruptError",
    "InvalidArgumentError",
    "ConflictError",
    "UnsupportedError",
    "NotAStoreError",
    "ReadOnlyError",
    "KeyExistsError",
    "UnsafePickleError",
    "BlobBackend",
    "FilesystemBlobBackend",
    "MemoryBlobBackend",
    "MetadataBackend",
    "S3BlobBackend",
    "ArrayHandle",
    "BlobReader",
    "BlobWriter",
]

__version__ = _core.library_version

_PICKLE_MAGIC = b"BSPK\x01"
# The read cache (SQLite index): values of at most this many bytes, up to this
# many bytes in all (each entry counted with its key and ~200 bytes of Python
# objects), dropped whole when full, and when another connection or this
# handle writes. (It held 4,096 entries: a working set of 10,000 small values
# missed it every time, at 0.46x diskcache's get.)
_CACHE_VALUE_MAX = 4096
_CACHE_BYTES = 32 << 20
_CACHE_ENTRY_OVERHEAD = 200
_PICKLE_HEADER0 = struct.Struct("<IQ")  # a pickle header with no out-of-band buffer
# Exactly these types are pickled whatever the value (never an array or a
# table): a put of one skips the typed writers' checks.
_PLAIN_TYPES = frozenset((dict, list, tuple, str, int, float, bool, complex, set, frozenset,
                          type(None)))
_KEY_FILE = "pickle_secret.key"


class UnsafePickleError(Error):
    """A pickled entry this store cannot vouch for: its signature does not
    check out, or the key that signs pickles (``pickle_secret.key``) is not a
    regular file of this user (or root) that no one else may write or read.
    Unpickling it could run arbitrary code, so it is refused unless the
    caller passes ``trust=True``."""


def _check_secret_file(path, st):
    """Why the signing key file at path (fstat result st) cannot be trusted,
    or None. Whoever could replace or read it could sign pickles of their
    own that this user's get() would unpickle."""
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    if st.st_uid not in (os.geteuid(), 0):
        return f"{path} belongs to uid {st.st_uid}, neither this user ({os.geteuid()}) nor root"
    if st.st_mode & 0o077:
        who = "write" if st.st_mode & 0o022 else "read"
        return (
            f"{path} has mode {stat.S_IMODE(st.st_mode):04o}: others may {who} it "
            "(it must be 0600 or stricter)"
        )
    return None


def _load_secret(path):
    """The store's 32-byte pickle signing key, created (mode 0600, never
    through a symbolic link) if there is none. Raises UnsafePickleError when
    the file cannot be trusted (see _check_secret_file)."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            # Write the key beside, then link it into place: readers never
            # see a partly written key, and two processes racing to create
            # it agree on the first one linked.
            tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(tmp, flags, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    os.fchmod(f.fileno(), 0o600)
                    f.write(secrets.token_bytes(32))
                    f.flush()
                    os.fsync(f.fileno())
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    pass
            finally:
                os.unlink(tmp)
            continue
        except OSError as e:
            if e.errno == errno.ELOOP or os.path.islink(path):
                raise UnsafePickleError(
                    f"refusing to use the pickle signing key {path}: it is a symbolic link; "
                    "pass trust=True to get() to load pickles anyway"
                ) from None
            raise
        with os.fdopen(fd, "rb") as f:
            why = _check_secret_file(path, os.fstat(f.fileno()))
            if why:
                raise UnsafePickleError(
                    f"refusing to use the pickle signing key: {why}; whoever can change it can "
                    "make this store unpickle code of theirs. Pass trust=True to get() to load "
                    "pickles anyway"
                )
            key = f.read(33)
        if len(key) != 32:
            raise CorruptError(f"{path} is not a 32-byte secret key")
        return key
    raise Error(f"cannot create the pickle signing key {path}")


def _dumps_metadata(metadata, what="metadata"):
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise ValueError(f"{what} must be a dict, not {type(metadata).__name__}")
    try:
        return json.dumps(metadata, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be JSON-serialisable: {e}") from None


class BlobStore:
    """Key-value storage of Python objects with metadata (see the package doc).

    Parameters follow the reference BlobStore: ``cache_dir``, ``backend``
    ("json", "sqlite", a postgresql:// URL, or a MetadataBackend subclass
    written in Python), ``compression`` (lz4, zstd, gzip, blosclz, none),
    ``compression_level`` (1-9), ``content_addressable`` and ``blob_backend``
    ("filesystem", "memory", an s3:// URL, a FilesystemBlobBackend /
    MemoryBlobBackend / S3BlobBackend, or a BlobBackend subclass written in
    Python). ``durability`` is "durable"
    (default: a put that returned survives power loss) or "relaxed".

    ``mode`` says what may happen to ``cache_dir`` (as in :mod:`dbm`):
    "c" (default) opens the store there, creating it if the directory does
    not exist or is empty; a directory holding other files is refused
    (ConflictError). "w" opens an existing store only and "r" opens it
    read-only: both raise NotAStoreError (a FileNotFoundError) when
    ``cache_dir`` is not a store, and create nothing. With "r" nothing is ever
    written to the directory (a user with read permission only can get, list
    and verify without repair); writes raise ReadOnlyError (a
    PermissionError).

    It is also a mapping of keys to values: ``store[key]``, ``store[key] =
    value``, ``del store[key]``, ``key in store``, ``len(store)``,
    ``iter(store)``, ``keys()``, ``values()``, ``items()`` (key, value) and
    ``get(key, default)``; ``entries()`` gives (key, metadata) pairs.

    Exceptions (all subclasses of blobstore.Error):

    - NotFoundError (also a KeyError): no such key, where absence is an error
      (``store[key]``, ``del store[key]``, ``open(key)``, ``get_file``);
    - CorruptError: stored bytes fail their checksums (never returned);
    - InvalidArgumentError (also a ValueError): a bad key, metadata, filter or
      option, or a call on a closed store; ConflictError (one of them):
      options that conflict with the store's recorded settings;
    - UnsupportedError: a format feature this build cannot read or write;
    - NotAStoreError (also a FileNotFoundError): mode "r"/"w" on a directory
      that is not a store;
    - ReadOnlyError (also a PermissionError): a write to a mode "r" store;
    - KeyExistsError: a put with ``overwrite=False`` of a key that exists;
    - UnsafePickleError: a pickle this store did not sign (``trust=True``).

    >>> with BlobStore("./store", backend="sqlite") as store:   # doctest: +SKIP
    ...     store["model_v1"] = {"w": np.zeros(3)}
    ...     store.put(b"raw", key="blob", metadata={"source": "camera"})
    ...     store.list(metadata_filter={"source": "camera"})
    ['blob']
    """

    def __init__(
        self,
        cache_dir=".blobstore",
        backend=None,
        compression="lz4",
        compression_level=3,
        content_addressable=None,
        blob_backend=None,
        *,
        durability=None,
        verify_content_hash=False,
        rebuild_index=False,
        mode="c",
    ):
        cache_dir = os.fspath(cache_dir)
        meta_impl = None
        if isinstance(backend, MetadataBackend):
            meta_impl, backend = backend, None
        elif backend is not None and not isinstance(backend, str):
            raise ValueError(f"backend must be a name, a URL or a MetadataBackend, not {backend!r}")
        # Names (backends, codecs) are checked by the library, which knows them.
        if not isinstance(compression, str):
            raise ValueError(f"compression must be a codec name, not {compression!r}")
        if not isinstance(compression_level, int) or not 1 <= compression_level <= 9:
            raise ValueError(f"compression_level must be an integer 1..9, not {compression_level!r}")
        shard_chars = None
        impl = None
        blob_name = None
        if isinstance(blob_backend, S3BlobBackend):
            blob_backend = blob_backend.url
        if blob_backend is None or isinstance(blob_backend, str):
            blob_name = blob_backend
        elif isinstance(blob_backend, FilesystemBlobBackend):
            base = os.path.abspath(os.fspath(blob_backend.base_dir))
            if base != os.path.abspath(cache_dir):
                raise ValueError(
                    "FilesystemBlobBackend.base_dir must be the store's cache_dir "
                    f"({cache_dir!r}); blobs live in its blobs/ directory"
                )
            blob_name, shard_chars = "filesystem", blob_backend.shard_chars
        elif isinstance(blob_backend, MemoryBlobBackend):
            blob_name = "memory"
        elif isinstance(blob_backend, BlobBackend):
            impl = blob_backend
        else:
            raise ValueError(f"unsupported blob_backend {blob_backend!r}")
        self.cache_dir = cache_dir
        self._memory = blob_name == "memory"
        self._store = _core.Store(
            cache_dir=cache_dir,
            backend=backend,
            compression=compression,
            compression_level=compression_level,
            content_addressable=content_addressable,
            blob_backend=blob_name,
            shard_chars=shard_chars,
            durability=durability,
            verify_content_hash=verify_content_hash,
            blob_backend_impl=impl,
            meta_backend_impl=meta_impl,
            rebuilding=bool(rebuild_index),
            mode=mode,
        )
        settings = json.loads(self._store.settings())
        self.backend = settings["backend"]
        self.compression = compression
        self.compression_level = compression_level
        self.content_addressable = settings["content_addressable"]
        self._secret = None
        self._hmac_pads = None  # the signing key's HMAC states (_signature)
        self._cache = {}
        self._cache_bytes = 0
        self._cache_ver = None
        self._tls = threading.local()  # batch depth of each thread
        self._streams = weakref.WeakSet()  # open BlobReader / BlobWriter objects
        #: what ``rebuild_index=True`` did (the dict rebuild_index() returns), else None
        self.rebuild_stats = self.rebuild_index() if rebuild_index else None

    # -- context manager -------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Close the store and release its resources.

        Streams still open on it are closed first (a ``"wb"`` stream not yet
        closed is abandoned: nothing is stored). Calls in progress on other
        threads are waited for; calls made afterwards raise
        InvalidArgumentError ("the store is closed"). A second close() does
        nothing.

        >>> store = BlobStore("./store")        # doctest: +SKIP
        >>> store.close()                       # doctest: +SKIP
        """
        for s in list(self._streams):
            if isinstance(s, BlobWriter):
                s.abort()
            else:
                s.close()
        self._store.close()

    # -- the pickle signing key ------------------------------------------

    def _secret_key(self):
        if self._secret is None:
            if self._memory:
                self._secret = secrets.token_bytes(32)
            else:
                self._secret = _load_secret(os.path.join(self.cache_dir, _KEY_FILE))
        return self._secret

    def _signature(self, key, fmt, content_hash):
        msg = b"\0".join([key.encode(), fmt.encode(), content_hash.encode()])
        # HMAC-SHA256 (RFC 2104) from the key's inner and outer SHA-256 states,
        # hashed once per handle: 1.0 us a signature where hmac.new(...) took
        # 2.2 (the same digest; test_small_get compares it with hmac.new)
        pads = self._hmac_pads
        if pads is None:
            k = self._secret_key()
            k = (hashlib.sha256(k).digest() if len(k) > 64 else k).ljust(64, b"\0")
            pads = self._hmac_pads = (hashlib.sha256(bytes(x ^ 0x36 for x in k)),
                                      hashlib.sha256(bytes(x ^ 0x5C for x in k)))
        inner = pads[0].copy()
        inner.update(msg)
        outer = pads[1].copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    # -- put ---------------------------------------------------------------

    def put(self, data, key=None, metadata=None, *, chunks=None, overwrite=True):
        """Store ``data`` under ``key`` with a metadata dict; returns the key.

        ``key`` None: a generated key (16 hex characters), or in a
        content-addressable store the content's SHA-256. An existing entry
        with the key is replaced, data and metadata both. Bytes-like objects
        are stored as bytes, NumPy arrays as ``.b2nd`` files (``chunks``: the
        chunk shape, one extent per dimension; default automatic), pandas
        DataFrames and Series as Parquet files, anything else as a signed
        pickle. An object column whose cells are lists, dicts or lists of
        ``(key, value)`` pairs is a nested Parquet column (LIST, STRUCT,
        MAP; the type inferred from every cell as pyarrow infers it) when
        the Parquet writer takes it; cells of mixed types at one level (ints
        with strings or floats, non-string dict keys, sets, other tuples)
        keep the whole frame a pickle. ``metadata`` must be JSON-serialisable. ``overwrite=False``
        refuses a key that exists (KeyExistsError, nothing stored): the check
        and the commit are one transaction, so of two such puts of one key
        exactly one succeeds.

        Raises ValueError (bad key or metadata), KeyExistsError (overwrite=False
        and the key exists), ReadOnlyError (a store opened with mode="r"),
        Error (I/O).

        >>> store.put(b"weights", key="model_v1", metadata={"accuracy": 0.95})  # doctest: +SKIP
        'model_v1'
        >>> store.put(np.zeros((1000, 1000)), key="grid", chunks=(100, 1000))  # doctest: +SKIP
        'grid'
        >>> store.put(b"other", key="model_v1", overwrite=False)  # doctest: +SKIP
        Traceback (most recent call last):
        blobstore.KeyExistsError: an entry with key "model_v1" exists (no overwrite)
        """
        if key is not None and not isinstance(key, str):
            raise ValueError(f"key must be a str or None, not {type(key).__name__}")
        meta = _dumps_metadata(metadata)
        no_ow = not overwrite
        if isinstance(data, (bytes, bytearray, memoryview)):
            return self._store.put(key, data, meta, format="bytes", no_overwrite=no_ow)
        if type(data) in _PLAIN_TYPES and chunks is None:  # never an array or a table
            return self._put_pickle(data, key, meta, no_ow)
        typed = _typed_put(self, data, key, meta, chunks=chunks, no_overwrite=no_ow)
        if typed is not None:
            return typed
        if chunks is not None:
            raise ValueError("chunks= applies to NumPy arrays only")
        return self._put_pickle(data, key, meta, no_ow)

    def __setitem__(self, key, value):
        """``store[key] = value`` is ``store.put(value, key=key)``."""
        _check_key(key)
        self.put(value, key=key)

    def _put_pickle(self, obj, key, meta, no_overwrite=False):
        buffers = []

        def keep(buf):
            try:
                buffers.append(buf.raw())
                return False  # out of band: stored without an extra copy
            except BufferError:
                return True  # not contiguous: in band

        try:
            body = pickle.dumps(obj, protocol=5, buffer_callback=keep)
        except Exception as e:
            raise ValueError(f"cannot pickle {type(obj).__name__}: {e}") from e
        if buffers:
            header = _PICKLE_MAGIC + struct.pack(
                f"<IQ{len(buffers)}Q", len(buffers), len(body), *[b.nbytes for b in buffers]
            )
            parts = [header, body, *buffers]
        else:
            header = _PICKLE_MAGIC + _PICKLE_HEADER0.pack(0, len(body))
            parts = [header, body]
        h = hashlib.sha256(header)
        for p in parts[1:]:
            h.update(p)
        content_hash = h.hexdigest()
        if key is None:  # a content-addressable store names it by its content
            key = content_hash if self.content_addressable else secrets.token_hex(8)
        # (what json.dumps gives of {"signature": hex}: hex digits need no escape)
        info = '{"signature": "%s"}' % self._signature(key, "pickle", content_hash)
        return self._store.put(key, parts, meta, format="pickle", format_info=info,
                               no_overwrite=no_overwrite)


    # -- get ---------------------------------------------------------------

    def get(self, key, default=None, *, trust=False, slice=None, columns=None, mmap_mode=None,
            out=None):
        """The object stored under ``key``, or ``default`` (None) if there is
        no such key.

        ``slice``: for an array, an index of integers, slices and ``...``
        (as ``a[index]``): only the chunks it touches are read. ``columns``:
        for a table, the columns to read (only theirs are decoded); a name
        the table lacks raises KeyError.

        ``mmap_mode="r"``: for an array stored uncompressed (``compression=
        "none"``) in a filesystem store, a read-only array memory-mapped from
        its blob file, as ``numpy.load(path, mmap_mode="r")``: it returns at
        once, whatever the size, and pages are read as they are touched.
        Only the file's header and index are checked then; ``arr.base`` is
        the mapping, and ``arr.base.verify()`` checks every byte's checksum
        (CorruptError), reading the file once. An array that cannot be
        mapped (compressed, another blob backend, stored with chunk shapes
        of its own) is read whole and checked as usual, returned read-only,
        with a UserWarning saying why (as joblib ignores ``mmap_mode`` for
        compressed files). A key that holds no array is a ValueError.

        ``out``: for an array, a NumPy array to read it into, returned
        instead of a new one (``blobstore_array_get_into``): reused from get
        to get, it saves the kernel's zeroing of fresh memory, a large part
        of a get of a large array. It must be a writable, C-contiguous
        ``numpy.ndarray`` of the stored dtype (byte order included:
        TypeError otherwise) and the stored shape (ValueError otherwise; a
        reshaped view of a larger contiguous buffer, ``buf[:n].reshape(
        shape)``, is one). With ``slice``, out has the shape NumPy gives
        ``a[slice]`` (integers drop their dimension; ``()`` when only
        integers index) and is filled with ``a[slice]``: a plain box (steps
        of 1, or 1 element wide) is read straight into out
        (``blobstore_array_get_slice_into``); a slice with other steps or
        negative steps reads its bounding box into a temporary array, then
        copies the strided selection into out. An entry stored as a NumPy
        scalar (``get`` returns a scalar) reads into a 0-d out, and so does
        a slice of integers only: out is returned, a 0-d array, as NumPy's
        ``out=`` does (``out[()]`` is the scalar). The same checks as any
        get: on CorruptError its content is unspecified. A key that holds no
        array, and ``out`` with ``columns`` or ``mmap_mode``, is a
        ValueError.

        Raises CorruptError (the stored bytes fail their checksum),
        UnsafePickleError (a pickle this store did not sign; ``trust=True``
        loads it anyway), UnsupportedError (a format this package cannot
        read), ValueError (``slice`` on a non-array, ``columns`` on a
        non-table).

        >>> store.get("model_v1")                              # doctest: +SKIP
        b'weights'
        >>> store.get("nope", "fallback")                      # doctest: +SKIP
        'fallback'
        >>> store.get("grid", slice=(slice(0, 10), 5)).shape   # doctest: +SKIP
        (10,)
        >>> store.get("table", columns=["a", "b"]).columns.tolist()  # doctest: +SKIP
        ['a', 'b']
        """
        if out is not None:
            if mmap_mode is not None or columns is not None:
                raise ValueError("out= reads an array; it excludes mmap_mode= and columns=")
            value = self._get_into(key, out, slice)
        elif mmap_mode is not None:
            value = self._get_mapped(key, mmap_mode, slice, columns)
        else:
            value = self._get(key, trust=trust, box=slice, columns=columns)
        return default if value is _MISSING else value

    def _get_into(self, key, out, box=None):
        _check_key(key)
        import numpy as np

        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
        text = self._store.get_metadata(key)
        if text is None:
            return _MISSING
        meta = json.loads(text)
        if meta["format"] != "b2nd":
            raise ValueError(f"out= needs an array; {key!r} holds {meta['format']}")
        dtype, shape = np.dtype(meta["dtype"]), tuple(meta["shape"])
        if box is None:
            want, what = shape, f"{key!r} holds"
        else:
            from ._io import box_of

            start, stop, post, empty = box_of(box, shape)
            ext = [hi - lo for lo, hi in zip(start, stop)]
            # a[box] is box[post] of the box's items: its shape, and whether
            # post takes every item of the box in order (a plain box)
            want, plain = [], True
            for p, n in zip(post, ext):
                if isinstance(p, int):
                    continue
                r = range(*p.indices(n))
                want.append(len(r))
                plain = plain and len(r) == n and (n <= 1 or r.step == 1)
            want, what = tuple(want), f"{key!r}[slice] has"
        if out.dtype != dtype:
            raise TypeError(f"out has dtype {out.dtype.str}; {key!r} holds {dtype.str}")
        if out.shape != want:
            raise ValueError(f"out has shape {out.shape}; {what} shape {want}")
        if not out.flags.c_contiguous:
            raise ValueError("out must be C-contiguous")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
        if box is None or not shape:
            got, want_box = self._store.get_array(key, into=out), shape
        elif empty:
            return out  # no item selected: nothing to read (as get(slice=))
        elif plain:  # the box's items in C order are out's
            got, want_box = self._store.get_array(key, start, stop, into=out), tuple(ext)
        else:  # steps: the bounding box into a temporary, its strided view into out
            got, want_box = self._store.get_array(key, start, stop), tuple(ext)
        if got is None:
            return _MISSING
        if np.dtype(got[0]) != dtype or tuple(got[1]) != want_box:  # replaced meanwhile
            raise ValueError(f"{key!r} was replaced while read: read "
                             f"{np.dtype(got[0]).str} of shape {tuple(got[1])}, "
                             f"expected {dtype.str} of shape {want_box}")
        if got[2] is not None:
            tmp = np.frombuffer(got[2], dtype=dtype).reshape(want_box)
            np.copyto(out, tmp[post])
        return out

    def _get_mapped(self, key, mmap_mode, box, columns):
        _check_key(key)
        if mmap_mode != "r":
            raise ValueError(
                f"mmap_mode must be 'r' (stored arrays are read-only), not {mmap_mode!r}")
        if columns is not None:
            raise ValueError("mmap_mode= applies to arrays; columns= to tables")
        import numpy as np

        try:
            m = self._store.map_array(key)
        except UnsupportedError as e:
            import warnings

            warnings.warn(f"mmap_mode='r' ignored: {e}", UserWarning, stacklevel=3)
            value = self._get(key, box=box)
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            return value
        except InvalidArgumentError as e:
            raise ValueError(f"mmap_mode= needs an array: {e}") from None
        if m is None:
            return _MISSING
        # the mapping is the array's base: it stays mapped while the array
        # (or any view of it) lives
        arr = np.ndarray(m.shape, dtype=np.dtype(m.dtype), buffer=m)
        if box is None:
            return arr
        from ._io import box_of

        box_of(box, arr.shape)  # the indexes slice= takes, checked as it checks them
        return arr[box]

    def __getitem__(self, key):
        """``store[key]``: the value, or KeyError (NotFoundError) if absent."""
        value = self._get(key)
        if value is _MISSING:
            raise NotFoundError(key)
        return value

    def _get(self, key, trust=False, box=None, columns=None):
        _check_key(key)
        if box is None and columns is None:
            # The read cache of small values: valid while neither this
            # handle nor any other connection has changed the index (the
            # counters are taken before the value is read).
            ver = self._store.changes() if self._cache_ver is not False else None
            if ver is None:
                self._cache_ver = False  # an index without a counter: no cache
            else:
                if ver != self._cache_ver:
                    self._cache.clear()
                    self._cache_bytes = 0
                    self._cache_ver = ver
                hit = self._cache.get(key)
                if hit is not None:
                    if type(hit) is bytes:
                        return hit
                    # a pickle, its header parsed when it was cached
                    return pickle.loads(hit[0], buffers=hit[1])
            # Bytes and pickles: one call into C reads the entry and its
            # value, and checks a pickle's signature and hash there.
            got = self._store.get_value(key, self._secret, trust)
            if got is None:
                return _MISSING
            fmt, value, status = got
            if fmt == "bytes":
                if ver is not None and len(value) <= _CACHE_VALUE_MAX:
                    self._cache_put(key, value, len(value))
                return value
            if fmt == "pickle":
                if status == 3:  # the signing key, loaded once
                    self._secret_key()
                    return self._get(key, trust)
                if status == 1:
                    raise UnsafePickleError(
                        f"refusing to unpickle {key!r}: its signature is missing or wrong "
                        "(it was not written by this store); pass trust=True to load it anyway"
                    )
                if status == 2:
                    raise UnsafePickleError(f"refusing to unpickle {key!r}: it changed while read")
                if ver is not None and not trust and len(value) <= _CACHE_VALUE_MAX:
                    # checked (signed, unchanged): kept as the pickle's body
                    # and out-of-band buffers, which a hit loads straight away
                    self._cache_put(key, self._pickle_parts(key, bytes(value)), len(value))
                return self._unpickle(key, value)  # (arrays in it: from the read buffer)
        text = self._store.get_metadata(key)
        if text is None:
            return _MISSING
        meta = json.loads(text)
        fmt = meta["format"]
        if box is not None:
            if fmt != "b2nd":
                raise ValueError(f"slice= needs an array; {key!r} holds {fmt}")
            from ._io import read_box

            import numpy as np

            shape = tuple(meta["shape"])
            out = read_box(self, key, shape, np.dtype(meta["dtype"]), box)
            return out
        if columns is not None:
            if fmt != "parquet":
                raise ValueError(f"columns= needs a table; {key!r} holds {fmt}")
            if isinstance(columns, str):
                raise ValueError("columns must be a list of names, not a str")
            columns = list(columns)
            # (a frame's non-string column names are kept beside their text)
            have = meta.get("column_names") or [c["name"] for c in meta.get("columns", [])]
            # (a dotted path "s.a" names a field of a struct column s)
            nested = {c["name"] for c in meta.get("columns", [])
                      if c.get("type", "").startswith("struct<")}
            missing = [c for c in columns if (c not in have and not (
                isinstance(c, str) and "." in c and c.split(".")[0] in nested))
                or (isinstance(c, str) and c.startswith("__index_level_"))]
            if missing:
                raise NotFoundError(f"{key!r} has no column {missing[0]!r} (it has {have})")
            value = _typed_get(self, key, meta, None, columns=columns)
            return _MISSING if value is None else value
        # one reader per format module (the C library's format table names
        # them: blobstore_name(BLOBSTORE_NAMES_FORMATS)); others go through the
        # typed readers
        return self._READERS.get(fmt, BlobStore._read_typed)(self, key, meta, trust)

    def _cache_put(self, key, value, size):
        size += len(key) + _CACHE_ENTRY_OVERHEAD
        if self._cache_bytes + size > _CACHE_BYTES:
            self._cache.clear()
            self._cache_bytes = 0
        self._cache[key] = value
        self._cache_bytes += size

    def _read_bytes(self, key, meta, trust):
        buf = self._store.get(key)
        return _MISSING if buf is None else bytes(buf)

    def _read_pickle(self, key, meta, trust):
        buf = self._store.get(key)
        return _MISSING if buf is None else self._load_pickle(key, meta, buf, trust)

    def _read_array(self, key, meta, trust):  # decoded in C straight from the store
        value = _typed_get(self, key, meta, None)
        return _MISSING if value is None else value

    def _read_typed(self, key, meta, trust):
        buf = self._store.get(key)
        if buf is None:
            return _MISSING
        typed = _typed_get(self, key, meta, buf)
        if typed is not None:
            return typed
        raise UnsupportedError(
            f"key {key!r} holds format {meta['format']!r}, which this package cannot read")

    _READERS = {"bytes": _read_bytes, "pickle": _read_pickle, "b2nd": _read_array}

    def open_array(self, key):
        """A lazy handle on the array stored under ``key``: ``shape``,
        ``dtype``, ``ndim``, ``size``, ``nbytes`` and ``chunks`` at once;
        indexing with integers, slices and ``...`` reads only the chunks the
        selection needs and returns a NumPy array (``np.asarray(handle)``
        reads it all).

        Raises NotFoundError (a KeyError) when there is no such key,
        ValueError when it holds no array.

        >>> arr = store.open_array("grid")     # doctest: +SKIP
        >>> arr.shape, arr.dtype, arr.chunks   # doctest: +SKIP
        ((1000, 1000), dtype('float64'), (100, 1000))
        >>> arr[100:200, :].mean()             # doctest: +SKIP
        0.0
        """
        from ._io import ArrayHandle

        meta = self.get_metadata(key)
        if meta is None:
            raise NotFoundError(key)
        if meta["format"] != "b2nd":
            raise ValueError(f"{key!r} holds {meta['format']}, not an array")
        return ArrayHandle(self, key, meta)

    def _load_pickle(self, key, meta, buf, trust):
        view = memoryview(buf)
        digest = hashlib.sha256(view).hexdigest()
        if not trust:
            want = self._signature(key, "pickle", meta["content_hash"])
            sig = meta.get("signature")
            if not isinstance(sig, str) or not hmac.compare_digest(sig, want):
                raise UnsafePickleError(
                    f"refusing to unpickle {key!r}: its signature is missing or wrong "
                    "(it was not written by this store); pass trust=True to load it anyway"
                )
            if digest != meta["content_hash"]:
                raise UnsafePickleError(f"refusing to unpickle {key!r}: it changed while read")
        return self._unpickle(key, view)

    @staticmethod
    def _unpickle(key, buf):
        body, bufs = BlobStore._pickle_parts(key, buf)
        return pickle.loads(body, buffers=bufs)

    @staticmethod
    def _pickle_parts(key, buf):
        """A blobstore pickle's body and out-of-band buffers (views of buf)."""
        view = memoryview(buf)
        if view[:5] != _PICKLE_MAGIC or len(view) < 17:
            raise CorruptError(f"{key!r} is not a blobstore pickle")
        nbuf, body_len = struct.unpack_from("<IQ", view, 5)
        pos = 17 + 8 * nbuf
        if len(view) < pos:
            raise CorruptError(f"{key!r}: truncated pickle header")
        sizes = struct.unpack_from(f"<{nbuf}Q", view, 17)
        body = view[pos : pos + body_len]
        pos += body_len
        bufs = []
        for n in sizes:
            bufs.append(view[pos : pos + n])
            pos += n
        if pos != len(view):
            raise CorruptError(f"{key!r}: pickle sizes do not add up")
        return body, bufs


    # -- batches -------------------------------------------------------------

    def batch(self):
        """A context in which puts, deletes and metadata updates on this
        store commit together, with one sync at the end; an exception rolls
        them all back. Batches nest (the outermost one commits). Other
        threads' calls on this store wait until the batch ends. Streams
        (``open``) cannot be used inside a batch.

        >>> with store.batch():                          # doctest: +SKIP
        ...     for i in range(1000):
        ...         store[f"row/{i}"] = row_bytes(i)
        """
        return _Batch(self)

    def put_many(self, items, metadata=None, *, overwrite=True):
        """Store each value of ``items`` (a dict, or (key, value) pairs)
        under its key, in one batch (one sync); all or none are stored.
        ``metadata`` (a dict) is given to every entry. Returns the keys, in
        order. ``overwrite=False``: a key that exists raises KeyExistsError
        and nothing of the batch is stored.

        >>> store.put_many({"a": b"1", "b": b"2"}, metadata={"run": 7})  # doctest: +SKIP
        ['a', 'b']
        """
        pairs = items.items() if hasattr(items, "items") else items
        with self.batch():
            return [self.put(value, key=key, metadata=metadata, overwrite=overwrite)
                    for key, value in pairs]

    def get_many(self, keys, *, trust=False):
        """A dict of the values stored under ``keys``; keys that are absent
        are left out.

        >>> store.get_many(["a", "b", "nope"])  # doctest: +SKIP
        {'a': b'1', 'b': b'2'}
        """
        out = {}
        for key in keys:
            value = self._get(key, trust=trust)
            if value is not _MISSING:
                out[key] = value
        return out

    # -- streams and files -------------------------------------------------

    def open(self, key, mode="rb", *, metadata=None, overwrite=True):
        """A binary file on a stored value: ``"rb"`` reads its bytes (read,
        readinto, readline, seek, tell), ``"wb"`` writes a new value
        (``key`` None: generated; the file's ``key`` attribute holds it after
        close) with ``metadata``, committed when the file is closed; an
        exception inside ``with`` stores nothing (``overwrite=False``: close
        raises KeyExistsError if the key exists). Memory stays bounded
        whatever the size: the bytes are compressed or checked a chunk at a
        time. A value written so is bytes (get() returns bytes); "rb" on an
        array or table gives its stored file (.b2nd, .parquet).

        Raises NotFoundError (a KeyError) for "rb" on an absent key,
        CorruptError when the bytes read fail their checksums, ValueError for
        another mode or inside ``batch()``.

        >>> with store.open("video", "wb", metadata={"fps": 25}) as f:  # doctest: +SKIP
        ...     for block in source:
        ...         f.write(block)
        >>> with store.open("video", "rb") as f:                        # doctest: +SKIP
        ...     f.seek(1 << 20)
        ...     header = f.read(188)
        """
        from ._io import BlobReader

        if mode not in ("rb", "wb"):
            raise ValueError(f"mode must be 'rb' or 'wb', not {mode!r}")
        if getattr(self._tls, "depth", 0):
            raise ValueError("open() cannot be used inside store.batch()")
        if mode == "rb":
            _check_key(key)
            f = BlobReader(self, key)
        else:
            if key is not None:
                _check_key(key)
            f = BlobWriter(self, key, _dumps_metadata(metadata), no_overwrite=not overwrite)
        self._streams.add(f)
        return f

    def put_file(self, path, key=None, metadata=None, *, overwrite=True):
        """Store the bytes of the file at ``path`` (read as a stream, in
        bounded memory) under ``key`` (None: the file's name); returns the
        key. The value is bytes, whatever the file holds. ``overwrite=False``
        refuses a key that exists (KeyExistsError).

        Raises FileNotFoundError / OSError for the file, ValueError for a
        bad key.

        >>> store.put_file("weights.bin", key="model_v1")  # doctest: +SKIP
        'model_v1'
        """
        path = os.fspath(path)
        if key is None:
            key = os.path.basename(path)
        _check_key(key)
        meta = _dumps_metadata(metadata)
        with open(path, "rb") as f:
            return self._store.put_fd(key, f.fileno(), metadata=meta, format="bytes",
                                      no_overwrite=not overwrite)

    def get_file(self, key, path):
        """Write the stored bytes of ``key`` to the file at ``path`` (in
        bounded memory). The bytes go to a temporary file beside ``path``,
        renamed over it only once they are all written and checked: a damaged
        value never leaves a partial file. Returns the number of bytes.

        Raises NotFoundError (a KeyError) when there is no such key,
        CorruptError when the value fails its checksums, OSError for the file.

        >>> store.get_file("model_v1", "weights.bin")  # doctest: +SKIP
        7
        """
        _check_key(key)
        path = os.fspath(path)
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".part",
                                   dir=os.path.dirname(os.path.abspath(path)))
        try:
            with os.fdopen(fd, "wb") as f:
                if not self._store.get_fd(key, f.fileno()):
                    raise NotFoundError(key)
                size = f.tell()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return size

    # -- metadata and listing ----------------------------------------------

    def get_metadata(self, key):
        """The entry's metadata dict, or None if there is no such key:
        ``metadata`` holds the user's dict; ``size``, ``file_size``,
        ``format``, ``compression``, ``content_hash``, ``created_at``,
        ``updated_at`` (and for arrays ``dtype``, ``shape``, ``chunkshape``;
        for tables ``columns``, ``num_rows``) are the store's. Never reads
        the blob.

        >>> store.get_metadata("model_v1")["metadata"]["accuracy"]  # doctest: +SKIP
        0.95
        """
        _check_key(key)
        text = self._store.get_metadata(key)
        return None if text is None else json.loads(text)

    def update_metadata(self, key, metadata):
        """Merge the members of ``metadata`` into the entry's user metadata
        (top level; a member set to None stays, as null). Returns False if
        there is no such key.

        >>> store.update_metadata("model_v1", {"deployed": True})  # doctest: +SKIP
        True
        """
        _check_key(key)
        text = _dumps_metadata(metadata)
        if text is None:
            raise ValueError("metadata must be a dict")
        return self._store.update_metadata(key, text)

    def delete(self, key):
        """Delete the entry and its blob; returns False if there was none.

        >>> store.delete("old_model")  # doctest: +SKIP
        True
        """
        _check_key(key)
        return self._store.delete(key)

    def __delitem__(self, key):
        """``del store[key]``: KeyError (NotFoundError) if absent."""
        if not self.delete(key):
            raise NotFoundError(key)

    def exists(self, key):
        """True if the entry and its blob both exist.

        >>> store.exists("model_v1")  # doctest: +SKIP
        True
        """
        _check_key(key)
        return self._store.exists(key)

    def __contains__(self, key):
        """``key in store``: exists(key); False for a key that is not a str."""
        return isinstance(key, str) and self.exists(key)

    def list(self, prefix=None, metadata_filter=None, order_by=None, limit=None, offset=0):
        """Keys in byte order, optionally by ``prefix`` and
        ``metadata_filter`` (exact match, or operators:
        ``{"accuracy": {"$gt": 0.9}}``; ``$eq $ne $gt $gte $lt $lte $in $nin
        $exists $prefix $not $and $or``), ordered by a metadata path
        (``"-loss"`` for descending), ``offset`` skipped and ``limit``-ed.

        Raises ValueError (InvalidArgumentError) for a bad filter or order.

        >>> store.list(prefix="model_", metadata_filter={"accuracy": {"$gt": 0.9}})  # doctest: +SKIP
        ['model_v1']
        """
        if prefix is not None and not isinstance(prefix, str):
            raise ValueError("prefix must be a str")
        flt = _dumps_metadata(metadata_filter, "metadata_filter")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError("limit must be a positive integer")
        return self._store.query(
            prefix=prefix, filter=flt, order_by=order_by, limit=limit or 0, offset=offset
        )

    def entries(self, prefix=None, metadata_filter=None, order_by=None, limit=None, offset=0):
        """(key, metadata dict) pairs, as list() selects them, in one call
        (the dicts are get_metadata()'s). Before version 0.2 this was
        ``items()``, which is now the dict habit (key, value).

        >>> for key, meta in store.entries(prefix="checkpoint_", order_by="loss", limit=3):  # doctest: +SKIP
        ...     print(key, meta["metadata"]["loss"])
        """
        if prefix is not None and not isinstance(prefix, str):
            raise ValueError("prefix must be a str")
        flt = _dumps_metadata(metadata_filter, "metadata_filter")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError("limit must be a positive integer")
        rows = self._store.query(
            prefix=prefix, filter=flt, order_by=order_by, limit=limit or 0, offset=offset,
            with_metadata=True,
        )
        return [(k, json.loads(m)) for k, m in rows]

    # -- the dict habits ---------------------------------------------------

    def __len__(self):
        """``len(store)``: the number of entries."""
        return len(self._store.query())

    def __iter__(self):
        """``iter(store)``: the keys, in byte order (as of the call)."""
        return iter(self.list())

    def keys(self, prefix=None):
        """The keys, in byte order (``list(prefix=...)``).

        >>> store.keys()  # doctest: +SKIP
        ['a', 'b']
        """
        return self.list(prefix=prefix)

    def values(self, prefix=None):
        """The values, in key order, each read when reached.

        >>> [len(v) for v in store.values()]  # doctest: +SKIP
        [1, 1]
        """
        for _, value in self.items(prefix=prefix):
            yield value

    def items(self, prefix=None):
        """(key, value) pairs as a dict gives them, in key order, each value
        read when reached (keys deleted meanwhile are skipped). For (key,
        metadata) pairs, see entries().

        >>> dict(store.items(prefix="row/"))  # doctest: +SKIP
        {'row/1': b'...', 'row/2': b'...'}
        """
        for key in self.list(prefix=prefix):
            value = self._get(key)
            if value is not _MISSING:
                yield key, value

    def clear(self):
        """Remove every entry; returns how many.

        >>> store.clear()  # doctest: +SKIP
        2
        """
        return self._store.clear()

    def rebuild_index(self):
        """Rebuild the index from the keys and metadata the blobs carry: for
        each key, the newest blob's entry, unless the index still has the key
        with its blob (its metadata may be newer). Returns a dict: ``blobs``
        read, entries ``restored``, ``kept``, ``superseded`` older blobs,
        ``unreadable`` blobs and the ``problems`` (dicts as verify's).

        A store whose index is damaged or gone does not open (CorruptError);
        open it with ``BlobStore(path, rebuild_index=True)``, which renames a
        damaged local index ``*.damaged-TIME`` and rebuilds at once. Values
        kept inline in a SQLite index have no blob and cannot come back;
        metadata comes back as of each key's last put.

        >>> store.rebuild_index()["restored"]  # doctest: +SKIP
        300
        """
        return self._store.rebuild_index()

    def verify(self, repair=False):
        """Check every blob; returns counts and a list of problems. Files in
        the store's directories that it did not make (symbolic links, stray
        directories, other names) are problems of kind "foreign", counted in
        "foreign": never followed, never removed by repair. Blobs no entry
        refers to that carry a key the index lacks (or holds an older entry
        for) are "unindexed", counted in "unindexed": kept by repair, brought
        back by rebuild_index(). Entries of a content-addressed store whose
        key record is missing (a rebuild would lose them) are "norecord",
        counted in "norecord"; repair writes the record from the entry.
        ``repair=True`` removes orphan blobs
        (superseded, or carrying no entry record) and temporary files and
        drops entries whose blob is gone.

        >>> report = store.verify()                        # doctest: +SKIP
        >>> report["ok"] == report["entries"], report["problems"]  # doctest: +SKIP
        (True, [])
        """
        result = self._store.verify(repair=repair)
        result["foreign"] = sum(p["kind"] == "foreign" for p in result["problems"])
        result["unindexed"] = sum(p["kind"] == "unindexed" for p in result["problems"])
        result["norecord"] = sum(p["kind"] == "norecord" for p in result["problems"])
        return result

    def stats(self):
        """Statistics of the whole store, read from the index alone (no blob
        is read; SQLite and PostgreSQL aggregate in SQL, the JSON index in one
        pass in memory), as a dict:

        - ``entries``: the number of entries (keys);
        - ``stored_bytes`` / ``original_bytes``: bytes as stored (compressed)
          and as given to put, summed over entries;
        - ``formats`` / ``codecs``: the same by format ("bytes", "b2nd",
          "parquet", "pickle") and by codec, ``{name: {"entries": n,
          "stored_bytes": s, "original_bytes": o}}``;
        - ``inline_entries``: small values SQLite and PostgreSQL keep in the
          index (no blob);
        - ``blobs`` / ``blob_bytes``: the distinct blobs the other entries
          refer to and their stored bytes, each blob once (keys sharing
          content in a content-addressed store share a blob);
        - ``dedup_saved_bytes``: stored bytes of the entries with a blob minus
          ``blob_bytes``: what sharing saves;
        - ``index_bytes``: the index's size on disk (its files, or the
          PostgreSQL table with its indexes), None when unknown (a store in
          memory).

        The same figures as ``blobstore stats --json``.

        >>> s = store.stats()                                   # doctest: +SKIP
        >>> s["entries"], s["formats"]["bytes"]["entries"]      # doctest: +SKIP
        (3, 2)
        >>> s["original_bytes"] / s["stored_bytes"]             # doctest: +SKIP
        4.2
        """
        return self._store.stats()

    def migrate_to(self, other):
        """Copy every entry of this store into the open store ``other`` (e.g.
        one on PostgreSQL and S3), checking each copy's SHA-256; entries it
        already holds are skipped. Returns counts and a list of problems
        (corrupt or missing source blobs, which are left out).

        >>> with BlobStore("./archive", backend="sqlite") as dst:  # doctest: +SKIP
        ...     store.migrate_to(dst)["copied"]
        120
        """
        if not isinstance(other, BlobStore):
            raise ValueError("migrate_to needs another BlobStore")
        return self._store.migrate_to(other._store)

    def migrate(self, cache_dir=None, *, backend=None, blob_backend=None, shard_chars=None):
        """Copy this store to other backends (``backend``, ``blob_backend``,
        ``shard_chars``; those not named stay as they are), checking each
        copy's SHA-256, as the CLI's ``migrate`` does. With ``cache_dir`` the
        copy is a new store there and this one is unchanged. Without it the
        store moves in place: once every entry is copied, its directory
        switches to the new backends (the old index and blobs are left as they
        were), and this handle, still on the old ones, is closed: open the
        directory again. Returns counts and a list of problems (corrupt or
        missing source blobs, which are left out; an in-place store then does
        not switch).

        >>> store.migrate(backend="sqlite")["copied"]  # doctest: +SKIP
        120
        >>> store = BlobStore("./store")  # doctest: +SKIP
        """
        kw = {"cache_dir": None if cache_dir is None else os.fspath(cache_dir)}
        kw.update(backend=backend, blob_backend=blob_backend, in_place=cache_dir is None)
        if shard_chars is not None:
            kw["shard_chars"] = shard_chars
        stats = self._store.migrate(**kw)
        if stats.pop("switched"):
            self.close()
        return stats

    def create_index(self, path):
        """Index a metadata path (dotted: ``"hyperparameters.lr"``) so that
        filters on it are answered without a scan (SQLite, PostgreSQL;
        accepted and without effect elsewhere). Raises ValueError for a path
        that is not dotted names.

        >>> store.create_index("accuracy")  # doctest: +SKIP
        """
        self._store.create_index(path)


    def __repr__(self):
        return f"BlobStore({self.cache_dir!r}, backend={self.backend!r})"


class _Batch:
    """The context manager of BlobStore.batch()."""

    def __init__(self, store):
        self._store = store

    def __enter__(self):
        s = self._store
        depth = getattr(s._tls, "depth", 0)
        if depth == 0:
            s._store.batch_begin()
        s._tls.depth = depth + 1
        return s

    def __exit__(self, exc_type, exc, tb):
        s = self._store
        s._tls.depth -= 1
        if s._tls.depth == 0:
            if exc_type is None:
                s._store.batch_commit()
            else:
                s._store.batch_rollback()
        return False


_MISSING = object()

def _check_key(key):
    if not isinstance(key, str):
        raise ValueError(f"key must be a str, not {type(key).__name__}")


# Typed storage (arrays, tables) lives in _typed.py; it returns None for
# objects that are not arrays or tables.
from ._typed import typed_get as _typed_get  # noqa: E402
from ._typed import typed_put as _typed_put  # noqa: E402
