"""Blob backends: where a store keeps its blob files.

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
