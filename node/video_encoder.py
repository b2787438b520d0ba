"""The recording's encoder: a process of its own, at a lower priority than the node.

The node (node/recorder.py) writes screencast frames to this process's stdin, each a header
(`<dI`: seconds since the video's start, JPEG length) and the JPEG; a header with length 0 ends
the video at its time. Frames are placed on a constant frame rate: output frame k shows the
newest input frame that arrived at or before k/fps, so a page that does not change repeats its
last frame and the video lasts as long as the recording did. The MP4 (H.264, moov first, so a
player seeks before it has the whole file) stops growing at --max-seconds or --max-bytes. At the
end one JSON line on stdout says what was written: frames, duration_ms, width, height, fps, bytes.

Run as a file (`python node/video_encoder.py OUT FPS MAX_W MAX_H MAX_SECONDS MAX_BYTES`): it
imports only PyAV and the standard library, never the node.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from fractions import Fraction
from typing import Any, BinaryIO

HEADER = struct.Struct("<dI")


def _even(n: int) -> int:
    return max(2, n - n % 2)


class Encoder:
    def __init__(self, path: str, fps: int, max_w: int, max_h: int, max_seconds: float,
                 max_bytes: int) -> None:
        import av

        self.av = av
        self.path = path
        self.fps = fps
        self.max_w, self.max_h = max_w, max_h
        self.max_frames = int(max_seconds * fps) if max_seconds > 0 else 0
        self.max_bytes = max_bytes
        self.container: Any = None
        self.stream: Any = None
        self.decoder = av.CodecContext.create("mjpeg", "r")
        self.last: Any = None  # the newest frame, as the encoder wants it
        self.frames = 0  # output frames written
        self.full = False

    def _open(self, width: int, height: int) -> None:
        scale = min(1.0, self.max_w / width, self.max_h / height)
        self.width, self.height = _even(int(width * scale)), _even(int(height * scale))
        self.container = self.av.open(self.path, "w", format="mp4",
                                      options={"movflags": "+faststart"})
        self.stream = self.container.add_stream("libx264", rate=self.fps)
        self.stream.width, self.stream.height = self.width, self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = Fraction(1, self.fps)
        # A keyframe every 2 s keeps seeking quick; ultrafast/zerolatency keeps the CPU low (a
        # screen that repeats itself compresses well anyway).
        self.stream.codec_context.gop_size = 2 * self.fps
        self.stream.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "30"}

    def _emit_until(self, t: float) -> None:
        """Writes the current frame for every output slot before time t."""
        if self.last is None:
            return
        target = int(t * self.fps + 0.999999)  # slots k with k/fps < t
        if self.max_frames:
            target = min(target, self.max_frames)
        while self.frames < target and not self.full:
            self.last.pts = self.frames
            for packet in self.stream.encode(self.last):
                self.container.mux(packet)
            self.frames += 1
            if self.max_bytes and self.frames % self.fps == 0 and \
                    os.path.getsize(self.path) > self.max_bytes:
                self.full = True

    def frame(self, t: float, jpeg: bytes) -> None:
        try:
            decoded = self.decoder.decode(self.av.Packet(jpeg))
        except self.av.error.FFmpegError:
            return  # a torn frame: the next one replaces it
        for image in decoded:
            if self.container is None:
                self._open(image.width, image.height)
                t = 0.0  # the first frame opens the video: it covers its start
            self._emit_until(t)
            self.last = image.reformat(self.width, self.height, "yuv420p")

    def end(self, t: float) -> dict[str, Any]:
        if self.container is None:
            return {"frames": 0}
        self._emit_until(max(t, 1 / self.fps))  # a session shorter than a frame still shows
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        return {"frames": self.frames, "duration_ms": round(self.frames * 1000 / self.fps),
                "width": self.width, "height": self.height, "fps": self.fps,
                "bytes": os.path.getsize(self.path)}


def _read(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    return data if len(data) == n else b""


def main(argv: list[str]) -> int:
    path, fps, max_w, max_h, max_seconds, max_bytes = argv
    try:
        os.nice(10)  # the node's control path and the browsers come first
    except OSError:
        pass
    encoder = Encoder(path, int(fps), int(max_w), int(max_h), float(max_seconds), int(max_bytes))
    stdin = sys.stdin.buffer
    end_t = 0.0
    while True:
        head = _read(stdin, HEADER.size)
        if not head:
            break  # the node went away: close what was written
        t, length = HEADER.unpack(head)
        end_t = t
        if length == 0:
            break
        data = _read(stdin, length)
        if not data:
            break
        encoder.frame(t, data)
    summary = encoder.end(end_t)
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
