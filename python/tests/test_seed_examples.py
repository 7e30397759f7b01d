"""The reference document's examples, run as written: only the import line
changes (cacheness.storage -> blobstore). Names the examples leave undefined
are given realistic stand-ins: a model's state as a dict of NumPy arrays (as
PyTorch's state_dict() gives), raw data as a pandas DataFrame. Each worked
example asserts what it prints."""

import os
from datetime import datetime

import numpy as np
import pandas as pd
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


def model_state(seed):
    """A model's state: named NumPy weight arrays, as a state_dict() is."""
    rng = np.random.default_rng(seed)
    return {
        "embed.weight": rng.standard_normal((500, 64)).astype(np.float32),
        "encoder.0.weight": rng.standard_normal((64, 64)).astype(np.float32),
        "encoder.0.bias": np.zeros(64, dtype=np.float32),
        "head.weight": rng.standard_normal((2, 64)).astype(np.float32),
        "head.bias": np.array([0.1, -0.1], dtype=np.float32),
        "num_batches_tracked": np.int64(1234),
    }


def same_state(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and
                                        np.asarray(a[k]).dtype == np.asarray(b[k]).dtype
                                        for k in a)


# The reference's "ML Model Storage" needs an explicit key honoured in a
# content-addressable store (issue 13, the C side).
def test_ml_model_storage(capsys):
    trained_model = model_state(21)

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

    assert capsys.readouterr().out == "fraud_detector_v2.1: accuracy=0.95\n"
    meta = model_store.get_metadata("fraud_detector_v2.1")
    assert meta["metadata"]["deployed"] is True
    assert meta["metadata"]["deployment_env"] == "production"
    assert meta["metadata"]["hyperparameters"] == {"learning_rate": 0.001, "epochs": 100}
    assert same_state(model_store.get("fraud_detector_v2.1"), trained_model)
    # Both halves of the reference: a put without a key returns the content
    # hash as the key; identical content under both keys is stored once, and
    # deleting one key leaves the other whole.
    key = model_store.put(model_state(21))
    assert key == meta["content_hash"] and len(key) == 64
    assert model_store.get_metadata(key)["blob"] == meta["blob"]
    assert model_store.put(model_state(21), key="fraud_detector_v2.1-copy") == \
        "fraud_detector_v2.1-copy"
    assert model_store.list(prefix="fraud_detector") == ["fraud_detector_v2.1",
                                                        "fraud_detector_v2.1-copy"]
    assert model_store.delete(key)
    assert model_store.delete("fraud_detector_v2.1-copy")
    assert same_state(model_store.get("fraud_detector_v2.1"), trained_model)
    assert model_store.verify()["problems"] == []


def test_pipeline_artifacts(capsys):
    rng = np.random.default_rng(5)

    def extract_from_source():
        n = 10_000
        return pd.DataFrame({
            "transaction_id": np.arange(n, dtype=np.int64),
            "amount": rng.lognormal(3, 1, n).round(2),
            "merchant": rng.choice(["grocer", "fuel", "online", "travel"], n),
            "ts": pd.Timestamp("2024-01-15") + pd.to_timedelta(rng.integers(0, 86400, n), "s"),
        })

    def transform(df):
        out = df[df["amount"] > 20].copy()
        out["amount_log"] = np.log(out["amount"])
        return out

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

    assert capsys.readouterr().out == f"{run_id}/raw_data: extract\n{run_id}/transformed: transform\n"
    pd.testing.assert_frame_equal(artifact_store.get(f"{run_id}/raw_data"), raw_data)
    pd.testing.assert_frame_equal(artifact_store.get(f"{run_id}/transformed"), transformed)
    meta = artifact_store.get_metadata(f"{run_id}/transformed")
    assert meta["format"] == "parquet" and meta["num_rows"] == len(transformed)
    assert meta["metadata"]["row_count"] == len(transformed) < 10_000
    assert meta["metadata"]["depends_on"] == f"{run_id}/raw_data"
    assert artifact_store.get_metadata(f"{run_id}/raw_data")["metadata"]["row_count"] == 10_000


def test_training_checkpoints():
    class Model:
        """A stand-in network: its state is a dict of NumPy arrays."""

        def __init__(self):
            self.weights = model_state(0)

        def state_dict(self):
            return {k: np.copy(v) for k, v in self.weights.items()}

        def load_state_dict(self, state):
            self.weights = {k: np.copy(v) for k, v in state.items()}

    model = Model()
    rng = np.random.default_rng(9)
    current_lr = 0.01
    history = {}

    def train_epoch(m):
        m.weights["head.weight"] = m.weights["head.weight"] - current_lr * rng.standard_normal(
            m.weights["head.weight"].shape).astype(np.float32)
        epoch = len(history)
        loss = 1.0 / (1 + epoch) if epoch != 50 else 0.001
        history[epoch] = (loss, m.state_dict())
        return loss

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

    assert best_key == "checkpoint_epoch_0050" and best_loss == 0.001
    assert same_state(model.state_dict(), history[50][1])
    assert not same_state(model.state_dict(), history[99][1])
    assert len(checkpoint_store.list(prefix="checkpoint_")) == 10
    # The same answer in one call:
    assert checkpoint_store.list(prefix="checkpoint_", order_by="loss", limit=1) == [best_key]
