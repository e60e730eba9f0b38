"""The on-disk format and nothing else: samples, the deterministic tar writer, the manifest, the versioned
directory (store.py) and the build core that writes it (build.py), the loader.

Imports here stay light (numpy only): training machines need torch, numpy and webdataset, never ray,
mediapipe or decord.
"""
from .sample import SampleError, make_key
from .writer import ShardWriter, shard_name, config_hash, resumable, is_done
from .manifest import write_manifest, load_manifest, verify, dataset_version, ManifestError
from .reader import iter_samples, ShardError
from .store import open_version, Store, StoreError

__all__ = ["SampleError", "make_key", "ShardWriter", "shard_name", "config_hash", "resumable", "is_done",
           "write_manifest", "load_manifest", "verify", "dataset_version", "ManifestError", "iter_samples", "ShardError",
           "open_version", "Store", "StoreError"]
