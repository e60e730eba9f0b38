"""The embedded demo input: a video rendered from scikit-image's astronaut photo, with a known face track.

A virtual camera moves over `skimage.data.astronaut()` (a public-domain frontal portrait, shipped in the
scikit-image wheel: no network needed) along a smooth pan/zoom path; every frame is that window of the
photo resized to the output size. The face's box in the photo is fixed, so its box in every frame is
known exactly and written beside the video as ground truth (VIDEO.json).

    python -m pipelines.demo_video demo/astronaut.mp4                  # 8 s, 25 fps, 384x288
    python -m pipelines.demo_video long.mp4 --seconds 600 --width 1280 --height 720 --preset ultrafast

Encoding: frames are piped as raw RGB into the ffmpeg binary that imageio-ffmpeg ships (libx264, one
thread, bit-exact flags, no metadata), so the same arguments give the same bytes on the same ffmpeg.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

# The astronaut's face in the 512x512 photo (x0, y0, x1, y1): measured once with BlazeFace short range
# (score 0.92); the camera path below keeps this box fully inside every frame.
FACE_BOX = (177.0, 82.0, 272.0, 177.0)


def camera_window(t: float, aspect: float) -> tuple[float, float, float, float]:
    """The photo window (x0, y0, x1, y1) seen at time t (s): three incommensurate sinusoids (pan x, pan y,
    zoom), smooth at every derivative. Width 260..340 px, centre x 210..290, centre y 128..152: for
    aspects 4:3 to 16:9 the window stays inside the photo and always contains FACE_BOX."""
    w = 300.0 + 40.0 * math.sin(2 * math.pi * t / 6.4 + 1.0)
    h = w / aspect
    cx = 250.0 + 40.0 * math.sin(2 * math.pi * t / 8.0)
    cy = 140.0 + 12.0 * math.sin(2 * math.pi * t / 5.0 + 0.5)
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def face_box_in_frame(window, width: int, height: int) -> list[float]:
    """FACE_BOX mapped from photo to frame pixels for a given window."""
    x0, y0, x1, y1 = window
    sx, sy = width / (x1 - x0), height / (y1 - y0)
    fx0, fy0, fx1, fy1 = FACE_BOX
    return [round((fx0 - x0) * sx, 2), round((fy0 - y0) * sy, 2), round((fx1 - x0) * sx, 2), round((fy1 - y0) * sy, 2)]


def render_frame(photo, window, width: int, height: int) -> np.ndarray:
    from PIL import Image
    frame = photo.transform((width, height), Image.Transform.EXTENT, window, resample=Image.Resampling.BILINEAR)
    return np.asarray(frame, dtype=np.uint8)


def ffmpeg_command(out: Path, width: int, height: int, fps: int, preset: str, crf: int) -> list[str]:
    import imageio_ffmpeg
    return [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-nostdin",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0",
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", "-g", str(2 * fps),
            "-threads", "1", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
            "-movflags", "+faststart", str(out)]


def write_demo(out: str | Path, seconds: float = 8.0, fps: int = 25, width: int = 384, height: int = 288,
               preset: str = "veryfast", crf: int = 18, progress: bool = False) -> dict:
    """Render and encode the video to `out`, write the ground truth to out.with_suffix('.json'); return it."""
    from PIL import Image
    from skimage import data
    from tqdm import tqdm
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    photo = Image.fromarray(data.astronaut())
    n = int(round(seconds * fps))
    boxes = []
    proc = subprocess.Popen(ffmpeg_command(out, width, height, fps, preset, crf), stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        for i in tqdm(range(n), desc=out.name, unit="frame", disable=not progress, leave=False):
            window = camera_window(i / fps, width / height)
            proc.stdin.write(render_frame(photo, window, width, height).tobytes())
            boxes.append(face_box_in_frame(window, width, height))
        proc.stdin.close()
    except BrokenPipeError:
        pass  # ffmpeg exited early; its error is reported below
    err = proc.stderr.read().decode(errors="replace").strip()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg could not write {out}: {err or 'exit status ' + str(proc.returncode)}")
    truth = {"video": out.name, "source": "skimage.data.astronaut", "fps": fps, "width": width, "height": height,
             "frames": n, "face_box_photo": list(FACE_BOX), "box_format": "x0,y0,x1,y1 in frame pixels",
             "boxes": boxes}
    out.with_suffix(".json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipelines.demo_video", description=__doc__.split("\n\n")[0],
                                epilog="examples:\n  python -m pipelines.demo_video demo/astronaut.mp4\n"
                                       "  python -m pipelines.demo_video long.mp4 --seconds 600 --width 1280 "
                                       "--height 720 --preset ultrafast",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="output .mp4 path (the ground truth goes to the same name with .json)")
    p.add_argument("--seconds", type=float, default=8.0, help="duration (default: %(default)s)")
    p.add_argument("--fps", type=int, default=25, help="frame rate (default: %(default)s)")
    p.add_argument("--width", type=int, default=384, help="frame width, even (default: %(default)s)")
    p.add_argument("--height", type=int, default=288, help="frame height, even; aspect 4:3 to 16:9 (default: %(default)s)")
    p.add_argument("--preset", default="veryfast", help="libx264 preset (default: %(default)s)")
    p.add_argument("--crf", type=int, default=18, help="libx264 quality, lower is better (default: %(default)s)")
    args = p.parse_args(argv)
    if args.width % 2 or args.height % 2 or not (4 / 3 - 1e-6 <= args.width / args.height <= 16 / 9 + 1e-6):
        p.error("--width and --height must be even, with an aspect between 4:3 and 16:9")
    if args.seconds <= 0 or args.fps <= 0:
        p.error("--seconds and --fps must be positive")
    truth = write_demo(args.out, args.seconds, args.fps, args.width, args.height, args.preset, args.crf,
                       progress=sys.stderr.isatty())
    print(f"wrote {args.out} ({truth['frames']} frames, {args.width}x{args.height} at {args.fps} fps) "
          f"and {Path(args.out).with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
