"""Per-video face processing: decode, detect, track, smooth, crop, cut into clips."""
