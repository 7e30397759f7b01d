"""File-like streams over the store's streamed put and get, and the lazy
array handle of open_array().

A stream runs the C library's streamed call (blobstore_get_stream or
blobstore_put_stream, without the GIL) on a thread of its own, and passes the
bytes through a queue of a few pieces: memory stays bounded whatever the
size of the value.
"""

import io
import os
import queue
import threading

from ._core import Error, NotFoundError

_PIECES = 4  # pieces (of up to the store's 1 MiB chunk) in flight per stream
_EOF = object()
_ABORT = object()


class _Stopped(Exception):
    """Raised inside a stream's callback to end the library call early."""


class BlobReader(io.RawIOBase):
    """A stored value's bytes, read as a binary file (``store.open(key, "rb")``).

    ``read``, ``readinto``, ``readline``, iteration, ``seek`` and ``tell``
    work as on a file opened "rb". The bytes are checked as they arrive
    (each chunk against its checksum before it is passed on, the whole
    value's SHA-256 at the end: a damaged value raises CorruptError). A seek
    forward skips bytes without keeping them; a seek backward reads the
    value again from its start.
    """

    def __init__(self, store, key):
        super().__init__()
        meta = store.get_metadata(key)
        if meta is None:
            raise NotFoundError(key)
        self._store = store
        self.key = key
        self.size = int(meta["size"])
        self._hash = meta.get("content_hash")
        self._pos = 0  # the caller's position
        self._at = 0  # the position of the next byte the pump gives
        self._piece = b""
        self._off = 0
        self._pump = None
        self._done = False

    # -- the pump: get_stream on its own thread ---------------------------

    def _start(self):
        q = queue.Queue(maxsize=_PIECES)
        stop = threading.Event()

        def write(b):
            while True:
                if stop.is_set():
                    raise _Stopped
                try:
                    q.put(b, timeout=0.05)
                    return
                except queue.Full:
                    pass

        core, key = self._store._store, self.key  # the thread keeps no reference to self,

        def run():  # so that a reader dropped unclosed is collected and stops it
            try:
                found = core.get_stream(key, write)
                last = _EOF if found else NotFoundError(key)
            except _Stopped:
                return
            except BaseException as e:  # noqa: BLE001 - handed to the reader
                last = e
            while not stop.is_set():
                try:
                    q.put(last, timeout=0.05)
                    return
                except queue.Full:
                    pass

        t = threading.Thread(target=run, name=f"blobstore-read-{self.key}", daemon=True)
        self._pump = (q, stop, t)
        self._at = 0
        self._piece, self._off, self._done = b"", 0, False
        t.start()

    def _stop(self):
        if self._pump is None:
            return
        q, stop, t = self._pump
        stop.set()
        while t.is_alive():
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        self._pump = None

    def _next_piece(self):
        """The next piece from the pump, or False at the end."""
        q = self._pump[0]
        item = q.get()
        if item is _EOF:
            self._done = True
            return False
        if isinstance(item, BaseException):
            self._done = True
            raise item
        self._piece, self._off = item, 0
        return True

    def _restart_if_changed(self):
        meta = self._store.get_metadata(self.key)
        if meta is None:
            raise NotFoundError(self.key)
        if meta.get("content_hash") != self._hash:
            raise Error(f"{self.key!r} was replaced while it was open for reading")

    # -- the file interface ------------------------------------------------

    def readable(self):
        """True."""
        return True

    def seekable(self):
        """True: seeks forward skip, seeks backward read again."""
        return True

    def readinto(self, b):
        """Read up to len(b) bytes into the writable buffer b; returns how
        many (0 at the end)."""
        self._checkClosed()
        mv = memoryview(b).cast("B")
        if self._pos >= self.size or len(mv) == 0:
            return 0
        if self._pump is None or self._at > self._pos:
            if self._pump is not None:
                self._stop()
                self._restart_if_changed()
            self._start()
        filled = 0
        while filled < len(mv):
            avail = len(self._piece) - self._off
            if avail == 0:
                if self._done or not self._next_piece():
                    break
                continue
            if self._at < self._pos:  # skip up to the caller's position
                k = min(avail, self._pos - self._at)
                self._off += k
                self._at += k
                continue
            k = min(avail, len(mv) - filled)
            mv[filled : filled + k] = self._piece[self._off : self._off + k]
            self._off += k
            self._at += k
            filled += k
        self._pos += filled
        return filled

    def readall(self):
        chunks = []
        while True:
            b = self.read(1 << 20)
            if not b:
                return b"".join(chunks)
            chunks.append(b)

    def seek(self, offset, whence=os.SEEK_SET):
        self._checkClosed()
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if pos < 0:
            raise OSError(22, f"negative seek position {pos}")
        self._pos = pos
        return pos

    def tell(self):
        self._checkClosed()
        return self._pos

    def close(self):
        """Stop reading (the library call in progress ends); idempotent."""
        if not self.closed:
            self._stop()
            self._store._streams.discard(self)
        super().close()

    def __repr__(self):
        return f"<blobstore.BlobReader key={self.key!r} size={self.size}>"


class BlobWriter(io.RawIOBase):
    """A new value written as a binary file (``store.open(key, "wb")``).

    The bytes go to the store as they are written (compressed and
    checksummed a chunk at a time); the entry is committed by ``close()``,
    and ``key`` then holds its key. Leaving a ``with`` block by an exception,
    or calling ``abort()``, stores nothing (the partial blob is removed).
    """

    def __init__(self, store, key, metadata, no_overwrite=False):
        super().__init__()
        self._store = store
        self.key = key
        self._q = queue.Queue(maxsize=_PIECES)
        self._pending = memoryview(b"")
        self._result = None
        self._error = None
        self._finished = threading.Event()
        self._aborted = False
        meta = metadata

        def read(cap):
            while len(self._pending) == 0:
                item = self._q.get()
                if item is _EOF:
                    return b""
                if item is _ABORT:
                    raise _Stopped
                self._pending = memoryview(item).cast("B")
            out = self._pending[:cap]
            self._pending = self._pending[len(out) :]
            return out

        def run():
            try:
                self._result = store._store.put_stream(key, read, metadata=meta,
                                                       no_overwrite=no_overwrite)
            except BaseException as e:  # noqa: BLE001 - raised again by close()
                self._error = e
            finally:
                self._finished.set()

        self._thread = threading.Thread(target=run, name="blobstore-write", daemon=True)
        self._thread.start()

    def writable(self):
        """True."""
        return True

    def _send(self, item):
        while True:
            if self._finished.is_set():
                if self._error is not None and not isinstance(self._error, _Stopped):
                    raise self._error
                raise Error("the stream's put ended early")
            try:
                self._q.put(item, timeout=0.05)
                return
            except queue.Full:
                pass

    def write(self, b):
        """Write the bytes-like b (it may be reused as soon as this returns);
        returns len(b). Blocks while the store is a few pieces behind."""
        self._checkClosed()
        if isinstance(b, bytes):
            data = b  # immutable: no copy needed
        else:
            data = bytes(memoryview(b).cast("B"))  # the caller may reuse its buffer
        if data:
            self._send(data)
        return len(data)

    def abort(self):
        """Give up: nothing is stored. The stream is closed."""
        if self.closed:
            return
        self._aborted = True
        try:
            while not self._finished.is_set():
                try:
                    self._q.put(_ABORT, timeout=0.05)
                    break
                except queue.Full:
                    try:
                        self._q.get_nowait()
                    except queue.Empty:
                        pass
            self._thread.join()
        finally:
            self._store._streams.discard(self)
            super().close()

    def close(self):
        """Commit the value; raises what the put raised (nothing is stored then)."""
        if self.closed:
            return
        try:
            self._send(_EOF)
            self._thread.join()
            if self._error is not None:
                raise self._error
            self.key = self._result
        except BaseException:
            if not self._finished.is_set():
                self._aborted = True
                self._q.put(_ABORT)
                self._thread.join()
            raise
        finally:
            self._store._streams.discard(self)
            super().close()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        else:
            self.close()
        return False

    def __repr__(self):
        return f"<blobstore.BlobWriter key={self.key!r}>"


# ---- partial reads of arrays ----


def box_of(index, shape):
    """The box (start, stop) an index of slices and integers (and one
    Ellipsis) selects in an array of this shape, and the index that takes the
    selection from that box: ``a[index] == box[post]``. Raises IndexError as
    NumPy does."""
    if not isinstance(index, tuple):
        index = (index,)
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if any(i is Ellipsis for i in index):
        at = next(k for k, i in enumerate(index) if i is Ellipsis)
        fill = len(shape) - (len(index) - 1)
        index = index[:at] + (slice(None),) * max(fill, 0) + index[at + 1 :]
    if len(index) > len(shape):
        raise IndexError(
            f"too many indices for array: array is {len(shape)}-dimensional, "
            f"but {len(index)} were indexed"
        )
    index = index + (slice(None),) * (len(shape) - len(index))
    start, stop, post, empty = [], [], [], False
    for dim, (i, n) in enumerate(zip(index, shape)):
        if isinstance(i, slice):
            r = range(*i.indices(n))
            if len(r) == 0:
                empty = True
                start.append(0)
                stop.append(0)
                post.append(slice(0, 0))
                continue
            lo, hi = min(r[0], r[-1]), max(r[0], r[-1]) + 1
            a, b = r[0] - lo, r[-1] - lo
            if r.step > 0:
                post.append(slice(a, b + 1, r.step))
            else:
                post.append(slice(a, b - 1 if b > 0 else None, r.step))
            start.append(lo)
            stop.append(hi)
        elif hasattr(i, "__index__") and not isinstance(i, bool):
            k = i.__index__()
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for axis {dim} with size {n}")
            k %= n
            start.append(k)
            stop.append(k + 1)
            post.append(0)
        else:
            raise IndexError(
                "only integers, slices (`:`) and ellipsis (`...`) index a stored array, "
                f"not {type(i).__name__}"
            )
    return start, stop, tuple(post), empty


class ArrayHandle:
    """A stored NumPy array, read lazily (``store.open_array(key)``).

    ``shape``, ``dtype``, ``ndim``, ``size``, ``nbytes`` and ``chunks`` (the
    stored chunk shape) come from the entry; indexing with integers, slices
    and ``...`` reads and decompresses only the chunks the selection touches
    (from a blob backend that reads ranges, only their bytes), and returns a
    NumPy array, as the same index on the whole array would.

    >>> arr = store.open_array("grid")          # doctest: +SKIP
    >>> arr.shape, arr.chunks                    # doctest: +SKIP
    ((10000, 1000), (1000, 1000))
    >>> arr[100:200, ::10].shape                 # doctest: +SKIP
    (100, 100)
    """

    def __init__(self, store, key, meta):
        import numpy as np

        self._store = store
        self.key = key
        self.shape = tuple(int(n) for n in meta["shape"])
        self.dtype = np.dtype(meta["dtype"])
        self.chunks = tuple(int(n) for n in meta.get("chunkshape") or self.shape)
        self._scalar = meta.get("python_type") == "numpy.generic"

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    def __len__(self):
        """The length of the first dimension (TypeError for a 0-d array)."""
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __getitem__(self, index):
        """``handle[index]``: what ``a[index]`` gives for the stored array
        ``a`` (integers, slices with any step, ``...``), reading only the
        chunks the selection touches. IndexError as NumPy raises it."""
        return read_box(self._store, self.key, self.shape, self.dtype, index)

    def __array__(self, dtype=None, copy=None):
        a = self[...]
        return a if dtype is None else a.astype(dtype)

    def __repr__(self):
        return (
            f"<blobstore.ArrayHandle key={self.key!r} shape={self.shape} dtype={self.dtype} "
            f"chunks={self.chunks}>"
        )


def read_box(store, key, shape, dtype, index):
    """``a[index]`` for the array stored under key, reading only the chunks
    the index touches."""
    import numpy as np

    start, stop, post, empty = box_of(index, shape)
    if empty:
        return np.empty(shape, dtype=dtype)[post].copy()
    if not shape:
        got = store._store.get_array(key)
    else:
        got = store._store.get_array(key, start, stop)
    if got is None:
        raise NotFoundError(key)
    dt, box_shape, buf = got
    box = np.frombuffer(buf, dtype=np.dtype(dt)).reshape(box_shape)
    out = box[post]
    if isinstance(out, np.ndarray) and not out.flags.c_contiguous:
        out = np.ascontiguousarray(out)  # do not keep the whole box alive
    return out
