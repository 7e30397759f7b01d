"""The reference document's examples, run as written: only the import line
changes (cacheness.storage -> blobstore). Names the examples leave undefined
(my_model, trained_model, train_epoch, ...) are given small stand-ins."""

import os
from datetime import datetime

import pytest

from blobstore import BlobStore


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


class Model:
    """A stand-in for a trained model: picklable, with a state dict."""

    def __init__(self, weights=None):
        self.weights = weights or [0.0] * 8

    def state_dict(self):
        return {"weights": list(self.weights)}

    def load_state_dict(self, state):
        self.weights = list(state["weights"])

    def __eq__(self, other):
        return isinstance(other, Model) and other.weights == self.weights


def test_quick_start():
    my_model = Model([1.0, 2.0])

    # Create a blob store
    store = BlobStore(
        cache_dir="./my_storage",
        backend="sqlite",      # "json" or "sqlite"
        compression="lz4",     # Compression codec
    )

    # Store data with metadata
    key = store.put(
        my_model,
        key="model_v1",
        metadata={"accuracy": 0.95, "author": "alice"}
    )

    # Retrieve data
    model = store.get("model_v1")

    # Get metadata only (fast - no deserialization)
    meta = store.get_metadata("model_v1")

    # List keys
    all_keys = store.list()
    model_keys = store.list(prefix="model_")

    # Delete
    store.delete("model_v1")

    assert key == "model_v1" and model == my_model
    assert meta["metadata"] == {"accuracy": 0.95, "author": "alice"}
    assert all_keys == ["model_v1"] and model_keys == ["model_v1"]
    assert store.list() == []
    assert os.path.exists("./my_storage/cache_metadata.db")


def test_blob_backend_configuration():
    from blobstore import BlobStore
    from blobstore.backends import FilesystemBlobBackend

    store = BlobStore(cache_dir="./data")
    store = BlobStore(cache_dir="./data", blob_backend="filesystem")
    store = BlobStore(cache_dir="./temp", blob_backend="memory")

    custom_backend = FilesystemBlobBackend(
        base_dir="./cache",
        shard_chars=3  # Use 3-char sharding (abc/abc123...)
    )

    store = BlobStore(
        cache_dir="./cache",
        blob_backend=custom_backend
    )
    store.put(b"abc", key="k")
    blob = store.get_metadata("k")["blob"]
    assert os.path.exists(os.path.join("cache", "blobs", blob[:3], blob))


def test_content_addressable():
    model_a = Model([3.0])
    store = BlobStore(
        cache_dir="./models",
        content_addressable=True,
    )

    # Store model
    key1 = store.put(model_a)  # Returns "8f14e45f..."

    # Store identical model - same key, no duplicate storage
    key2 = store.put(model_a)  # Returns "8f14e45f..." (same key)

    assert key1 == key2  # True - content is deduplicated


def test_ml_model_storage(capsys):
    trained_model = Model([0.5] * 4)

    # Create model store
    model_store = BlobStore(
        cache_dir="./models",
        backend="sqlite",
        content_addressable=True,  # Deduplicate identical models
    )

    # Store model with rich metadata
    model_store.put(
        trained_model,
        key="fraud_detector_v2.1",
        metadata={
            "model_name": "fraud_detector",
            "version": "2.1",
            "accuracy": 0.95,
            "f1_score": 0.92,
            "author": "alice",
            "training_date": datetime.now().isoformat(),
            "hyperparameters": {
                "learning_rate": 0.001,
                "epochs": 100,
            }
        }
    )

    # List all fraud detector versions
    versions = model_store.list(prefix="fraud_detector")
    for key in versions:
        meta = model_store.get_metadata(key)
        nested = meta.get("metadata", {})
        print(f"{key}: accuracy={nested.get('accuracy')}")

    # Mark model as deployed
    model_store.update_metadata("fraud_detector_v2.1", {
        "deployed": True,
        "deployment_env": "production",
    })

    # In a content-addressable store the key is the content hash (as the
    # reference documents): the named key is ignored, so it is not found.
    keys = model_store.list(metadata_filter={"model_name": "fraud_detector"})
    assert len(keys) == 1 and len(keys[0]) == 64
    assert model_store.get(keys[0]) == trained_model


def test_pipeline_artifacts(capsys):
    def extract_from_source():
        return [{"id": i, "value": i * 1.5} for i in range(100)]

    def transform(rows):
        return [r for r in rows if r["id"] % 2 == 0]

    # Create artifact store
    artifact_store = BlobStore(
        cache_dir="./pipeline_artifacts",
        backend="sqlite",
        compression="zstd",
    )

    run_id = f"run_{datetime.now().strftime('%Y%m%d_%H%M%S')}"

    # Stage 1: Extract
    raw_data = extract_from_source()
    artifact_store.put(
        raw_data,
        key=f"{run_id}/raw_data",
        metadata={
            "stage": "extract",
            "row_count": len(raw_data),
            "depends_on": None,
        }
    )

    # Stage 2: Transform
    transformed = transform(raw_data)
    artifact_store.put(
        transformed,
        key=f"{run_id}/transformed",
        metadata={
            "stage": "transform",
            "row_count": len(transformed),
            "depends_on": f"{run_id}/raw_data",  # Track lineage
        }
    )

    # List artifacts for this run
    for key in artifact_store.list(prefix=run_id):
        meta = artifact_store.get_metadata(key)
        print(f"{key}: {meta['metadata']['stage']}")

    out = capsys.readouterr().out
    assert f"{run_id}/raw_data: extract" in out and f"{run_id}/transformed: transform" in out
    assert artifact_store.get(f"{run_id}/transformed") == transformed
    assert artifact_store.get_metadata(f"{run_id}/raw_data")["compression"] == "zstd"


def test_training_checkpoints():
    model = Model()
    losses = iter([1.0 / (1 + e) if e != 50 else 0.001 for e in range(100)])
    current_lr = 0.01

    def train_epoch(m):
        m.weights = [w + 1 for w in m.weights]
        return next(losses)

    checkpoint_store = BlobStore(
        cache_dir="./checkpoints",
        compression="lz4",  # Fast for frequent saves
    )

    # Training loop with periodic checkpoints
    for epoch in range(100):
        loss = train_epoch(model)

        if epoch % 10 == 0:
            checkpoint_store.put(
                model.state_dict(),
                key=f"checkpoint_epoch_{epoch:04d}",
                metadata={
                    "epoch": epoch,
                    "loss": loss,
                    "learning_rate": current_lr,
                }
            )

    # Find best checkpoint
    best_loss = float("inf")
    best_key = None
    for key in checkpoint_store.list(prefix="checkpoint_"):
        meta = checkpoint_store.get_metadata(key)
        loss = meta["metadata"]["loss"]
        if loss < best_loss:
            best_loss = loss
            best_key = key

    # Resume from best checkpoint
    state = checkpoint_store.get(best_key)
    model.load_state_dict(state)

    assert best_key == "checkpoint_epoch_0050"
    assert model.weights == [51.0] * 8
    # The same answer in one call:
    assert checkpoint_store.list(prefix="checkpoint_", order_by="loss", limit=1) == [best_key]
