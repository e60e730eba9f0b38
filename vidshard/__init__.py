"""vidshard: raw videos -> versioned, streaming WebDataset shards -> video-disentangling models."""
__version__ = "0.1.0"
