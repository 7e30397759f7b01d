# The b2nd module: Blosc2 chunks and frames, N-dimensional arrays, .npy.
list(APPEND BLOBSTORE_SOURCES
  src/b2nd/blosclz.c
  src/b2nd/chunk.c
  src/b2nd/frame.c
  src/b2nd/array.c
  src/b2nd/npy.c
  src/b2nd/array_store.c
)
