"""Per-video face processing: decode, detect, track, smooth, crop, cut into clips."""

# The face processing code's version: raise it with any change under pipelines/faces/ that changes the clips
# made under the same FaceConfig. It is in the face hash (every per-video cache key) and in the manifest's
# config, so an incremental build re-makes what older code made instead of reusing it.
VERSION = 1
