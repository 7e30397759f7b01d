"""Backends: where a store keeps its blob files, and its index.

``FilesystemBlobBackend`` and ``MemoryBlobBackend`` select the C core's own
backends. Subclass ``BlobBackend`` to keep blobs anywhere else, in Python:
the store computes every name, frames, compresses and checks the bytes; a
backend only stores whole objects.
"""

import threading


class BlobBackend:
    """Base class of blob backends written in Python.

    Implement ``put(name, data)`` (store bytes atomically under name),
    ``get(name)`` (the bytes; raise KeyError when absent), ``exists(name)``,
    ``delete(name)`` (True if it existed) and ``names()`` (every name).
    Calls may come from several threads.
    """

    def put(self, name, data):
        raise NotImplementedError

    def get(self, name):
        raise NotImplementedError

    def exists(self, name):
        raise NotImplementedError

    def delete(self, name):
        raise NotImplementedError

    def names(self):
        raise NotImplementedError


class FilesystemBlobBackend:
    """Blob files under ``base_dir`` (the store's cache_dir), sharded in
    directories named by the first ``shard_chars`` hex characters."""

    def __init__(self, base_dir, shard_chars=2):
        if not isinstance(shard_chars, int) or not 0 <= shard_chars <= 8:
            raise ValueError("shard_chars must be an integer 0..8")
        self.base_dir = base_dir
        self.shard_chars = shard_chars


class MemoryBlobBackend:
    """Blobs (and the index) kept in this process only."""


class S3BlobBackend:
    """Blobs in S3-compatible object storage (AWS S3, Ceph RGW, MinIO, ...)
    under ``s3://bucket/prefix``. Credentials come from AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN); ``endpoint`` (else
    AWS_ENDPOINT_URL) selects a non-AWS server, ``region`` (else AWS_REGION,
    default us-east-1) the region. Passing the URL string as ``blob_backend``
    is the same."""

    def __init__(self, bucket, prefix="", endpoint=None, region=None):
        from urllib.parse import quote

        if not isinstance(bucket, str) or not bucket:
            raise ValueError("bucket must be a non-empty str")
        params = []
        if endpoint:
            params.append("endpoint=" + quote(endpoint, safe=":/"))
        if region:
            params.append("region=" + quote(region, safe=""))
        self.url = f"s3://{bucket}/{prefix.strip('/')}" + ("?" + "&".join(params) if params else "")


class DictBlobBackend(BlobBackend):
    """A BlobBackend written in Python over a dict: an example, and a test
    double for custom backends."""

    def __init__(self):
        self._data = {}
        self._lock = threading.Lock()

    def put(self, name, data):
        with self._lock:
            self._data[name] = bytes(data)

    def get(self, name):
        with self._lock:
            return self._data[name]

    def exists(self, name):
        with self._lock:
            return name in self._data

    def delete(self, name):
        with self._lock:
            return self._data.pop(name, None) is not None

    def names(self):
        with self._lock:
            return list(self._data)


class MetadataBackend:
    """Base class of metadata backends (the index) written in Python.

    Implement ``get(key)`` (an entry dict, or None), ``put(entry)`` (insert
    or replace), ``delete(key)`` (True if it existed) and ``entries()`` (every
    entry, any order), and the transaction methods ``begin(write)``,
    ``commit()`` and ``rollback()``: the store groups each change (a put, a
    delete, a cleared store, a batch) into one transaction and expects
    ``rollback()`` to undo what the transaction did. The store serialises
    its calls.

    An entry dict has ``key``, ``blob`` (the blob's name, or None), ``format``,
    ``compression``, ``content_hash``, ``created_at``, ``updated_at``,
    ``metadata`` (the user's metadata as JSON text: keep it exactly),
    ``info`` (JSON text or None), ``size``, ``file_size``, ``raw`` (bool) and
    ``data`` (bytes of a small value kept in the index, or None). Set
    ``supports_inline = True`` if ``data`` is stored.
    """

    supports_inline = False

    def begin(self, write):
        raise NotImplementedError

    def commit(self):
        raise NotImplementedError

    def rollback(self):
        raise NotImplementedError

    def get(self, key):
        raise NotImplementedError

    def put(self, entry):
        raise NotImplementedError

    def delete(self, key):
        raise NotImplementedError

    def entries(self):
        raise NotImplementedError


class DictMetadataBackend(MetadataBackend):
    """A MetadataBackend written in Python over a dict, with transactions
    that roll back: an example, and a test double for custom backends."""

    supports_inline = True

    def __init__(self):
        self._data = {}
        self._saved = None

    def begin(self, write):
        if write:
            self._saved = dict(self._data)

    def commit(self):
        self._saved = None

    def rollback(self):
        if self._saved is not None:
            self._data = self._saved
            self._saved = None

    def get(self, key):
        e = self._data.get(key)
        return dict(e) if e is not None else None

    def put(self, entry):
        self._data[entry["key"]] = dict(entry)

    def delete(self, key):
        return self._data.pop(key, None) is not None

    def entries(self):
        return [dict(e) for e in self._data.values()]
