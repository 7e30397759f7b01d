# Type stub of the blobstore package (PEP 561; the package ships py.typed).
# Checked against the runtime by python/tests/test_typing.py (mypy stubtest).
import io
import os
from typing import (
    Any,
    ContextManager,
    Dict,
    Iterable,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)


from ._core import (
    ConflictError as ConflictError,
    CorruptError as CorruptError,
    Error as Error,
    InvalidArgumentError as InvalidArgumentError,
    NotAStoreError as NotAStoreError,
    KeyExistsError as KeyExistsError,
    NotFoundError as NotFoundError,
    ReadOnlyError as ReadOnlyError,
    UnsupportedError as UnsupportedError,
)
from ._io import ArrayHandle as ArrayHandle
from ._io import BlobReader as BlobReader
from ._io import BlobWriter as BlobWriter
from .backends import (
    BlobBackend as BlobBackend,
    FilesystemBlobBackend as FilesystemBlobBackend,
    MemoryBlobBackend as MemoryBlobBackend,
    MetadataBackend as MetadataBackend,
    S3BlobBackend as S3BlobBackend,
)

__version__: str
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

_StrPath = Union[str, "os.PathLike[str]"]
# A JSON-serialisable dict (the user's metadata, a filter).
_JSONDict = Dict[str, Any]
# What indexes a stored array: integers, slices and Ellipsis.
_Index = Union[int, slice, "ellipsis", Tuple[Union[int, slice, "ellipsis"], ...]]

class UnsafePickleError(Error): ...

class BlobStore:
    cache_dir: str
    backend: str
    compression: str
    compression_level: int
    content_addressable: bool
    rebuild_stats: Optional[Dict[str, Any]]
    def __init__(
        self,
        cache_dir: _StrPath = ".blobstore",
        backend: Union[str, MetadataBackend, None] = None,
        compression: str = "lz4",
        compression_level: int = 3,
        content_addressable: Optional[bool] = None,
        blob_backend: Union[
            str, BlobBackend, FilesystemBlobBackend, MemoryBlobBackend, S3BlobBackend, None
        ] = None,
        *,
        durability: Optional[Literal["durable", "relaxed"]] = None,
        verify_content_hash: bool = False,
        rebuild_index: bool = False,
        mode: Literal["c", "w", "r"] = "c",
    ) -> None: ...
    def __enter__(self) -> BlobStore: ...
    def __exit__(self, *exc: object) -> Literal[False]: ...
    def close(self) -> None: ...
    # values
    def put(
        self,
        data: Any,
        key: Optional[str] = None,
        metadata: Optional[_JSONDict] = None,
        *,
        chunks: Optional[Sequence[int]] = None,
        overwrite: bool = True,
    ) -> str: ...
    def get(
        self,
        key: str,
        default: Any = None,
        *,
        trust: bool = False,
        slice: Optional[_Index] = None,
        columns: Optional[Sequence[str]] = None,
        mmap_mode: Optional[str] = None,
        out: Any = None,
    ) -> Any: ...
    def open_array(self, key: str) -> ArrayHandle: ...
    def put_many(
        self,
        items: Union[Mapping[str, Any], Iterable[Tuple[str, Any]]],
        metadata: Optional[_JSONDict] = None,
        *,
        overwrite: bool = True,
    ) -> List[str]: ...
    def get_many(self, keys: Iterable[str], *, trust: bool = False) -> Dict[str, Any]: ...
    def batch(self) -> ContextManager[BlobStore]: ...
    # streams and files
    @overload
    def open(
        self,
        key: str,
        mode: Literal["rb"] = "rb",
        *,
        metadata: Optional[_JSONDict] = None,
        overwrite: bool = True,
    ) -> BlobReader: ...
    @overload
    def open(
        self,
        key: Optional[str],
        mode: Literal["wb"],
        *,
        metadata: Optional[_JSONDict] = None,
        overwrite: bool = True,
    ) -> BlobWriter: ...
    def put_file(
        self,
        path: _StrPath,
        key: Optional[str] = None,
        metadata: Optional[_JSONDict] = None,
        *,
        overwrite: bool = True,
    ) -> str: ...
    def get_file(self, key: str, path: _StrPath) -> int: ...
    # metadata and listing
    def get_metadata(self, key: str) -> Optional[Dict[str, Any]]: ...
    def update_metadata(self, key: str, metadata: _JSONDict) -> bool: ...
    def delete(self, key: str) -> bool: ...
    def exists(self, key: str) -> bool: ...
    def list(
        self,
        prefix: Optional[str] = None,
        metadata_filter: Optional[_JSONDict] = None,
        order_by: Optional[str] = None,
        limit: Optional[int] = None,
        offset: int = 0,
    ) -> List[str]: ...
    def entries(
        self,
        prefix: Optional[str] = None,
        metadata_filter: Optional[_JSONDict] = None,
        order_by: Optional[str] = None,
        limit: Optional[int] = None,
        offset: int = 0,
    ) -> List[Tuple[str, Dict[str, Any]]]: ...
    def clear(self) -> int: ...
    # the dict habits
    def __getitem__(self, key: str) -> Any: ...
    def __setitem__(self, key: str, value: Any) -> None: ...
    def __delitem__(self, key: str) -> None: ...
    def __contains__(self, key: object) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self, prefix: Optional[str] = None) -> List[str]: ...
    def values(self, prefix: Optional[str] = None) -> Iterator[Any]: ...
    def items(self, prefix: Optional[str] = None) -> Iterator[Tuple[str, Any]]: ...
    # maintenance
    def rebuild_index(self) -> Dict[str, Any]: ...
    def verify(self, repair: bool = False) -> Dict[str, Any]: ...
    def stats(self) -> Dict[str, Any]: ...
    def migrate_to(self, other: BlobStore) -> Dict[str, Any]: ...
    def migrate(
        self,
        cache_dir: Optional[_StrPath] = None,
        *,
        backend: Optional[str] = None,
        blob_backend: Optional[str] = None,
        shard_chars: Optional[int] = None,
    ) -> Dict[str, Any]: ...
    def create_index(self, path: str) -> None: ...
