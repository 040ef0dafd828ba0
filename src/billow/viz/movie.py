"""Movies of a run (``movie.mp4``, ``movie.gif``) rendered straight from the arrays.

Design
------
A frame is built with numpy alone, never with a matplotlib figure:

1. **array -> colour index**: each field of a snapshot is normalised with *fixed*
   colour limits and quantised to a uint8 index 0..255;
2. **index -> RGB**: the index looks up a table (LUT) of the 256 colours of a
   cmocean colormap (``balance`` for vorticity and velocities, ``thermal`` for
   buoyancy, ``dense`` for the tracer);
3. **panels -> frame**: the panels are flipped so that z increases upwards on
   screen, upscaled by integer pixel repetition (``np.repeat``, aspect ratio of
   the grid cells kept) and written into a pre-built template that holds a thin
   title strip above each panel (it also separates the panels) and padding up
   to a multiple of 16 pixels (H.264 macroblocks, so ffmpeg never resizes);
4. **time label**: the glyphs of ``"t = 12.50"`` were rasterised once (PIL,
   which ships with matplotlib) onto the strip colour and are copied in as
   small RGB bitmaps.

The colour limits are fixed for the whole movie, so colours mean the same
value in every frame: vorticity (and u, w, v) use symmetric limits
``±max over the shown snapshots of the 99.5th percentile of |field|`` (robust to
a few extreme cells); buoyancy and tracer use the min/max of the first
snapshot, which by the maximum principle bounds every later snapshot.

Why it is fast: per frame the work is a few vectorised numpy passes over the
pixels (normalise, take from the LUT, repeat, copy), with no figure, axes,
text layout or Agg rasterisation, and the snapshots are streamed one at a time
from ``fields.nc`` (memory stays at one snapshot), each frame being fed to the
MP4 (ffmpeg, libx264) and GIF writers in a single pass. Both files are written
under temporary names in the output directory and moved into place with
``os.replace``, so a crash never leaves a half-written ``movie.mp4``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from billow.errors import BillowError

#: Frames are upscaled by an integer factor to get about this width in pixels.
TARGET_WIDTH = 512
#: Frame width and height are padded to multiples of this (H.264 macroblocks).
MACRO_BLOCK = 16
#: Percentile of |field| that sets symmetric colour limits.
ROBUST_PERCENTILE = 99.5

FORMATS = ("mp4", "gif")
STRIP_COLOUR = (24, 24, 24)
PAD_COLOUR = (0, 0, 0)
TEXT_COLOUR = (235, 235, 235)
_TIME_CHARS = "0123456789.=t -e+"

# colormap name and limit rule ("symmetric": ± robust max over the run,
# "first": min/max of the first snapshot) per field; others get the default
_STYLES = {
    "vorticity": ("balance", "symmetric"),
    "u": ("balance", "symmetric"),
    "v": ("balance", "symmetric"),
    "w": ("balance", "symmetric"),
    "b": ("thermal", "first"),
    "c": ("dense", "first"),
}
_DEFAULT_STYLE = ("haline", "first")


def colour_table(name: str) -> np.ndarray:
    """The 256 colours of the cmocean colormap ``name`` as a (256, 3) uint8 array."""
    import warnings

    with warnings.catch_warnings():  # cmocean's import warns on matplotlib >= 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        import cmocean

    cmap = getattr(cmocean.cm, name)
    rgba = cmap(np.linspace(0.0, 1.0, 256))
    return np.rint(rgba[:, :3] * 255).astype(np.uint8)


@dataclass(frozen=True)
class ColourScale:
    """A colormap LUT with fixed limits: values -> RGB."""

    name: str
    vmin: float
    vmax: float
    lut: np.ndarray = field(repr=False)

    @classmethod
    def from_cmocean(cls, cmap: str, vmin: float, vmax: float, name: str = "") -> ColourScale:
        return cls(name or cmap, float(vmin), float(vmax), colour_table(cmap))

    def index(self, values: np.ndarray) -> np.ndarray:
        """Colour index 0..255 (uint8): 256 equal bins over [vmin, vmax], clipped."""
        scaled = (np.asarray(values, dtype=np.float32) - np.float32(self.vmin)) * np.float32(
            256.0 / (self.vmax - self.vmin)
        )
        np.nan_to_num(scaled, copy=False, nan=0.0)
        np.clip(scaled, 0.0, 255.0, out=scaled)
        return scaled.astype(np.uint8)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """RGB image (..., 3) uint8 of ``values``."""
        return self.lut[self.index(values)]


def _nonzero_span(vmin: float, vmax: float) -> tuple[float, float]:
    if not (math.isfinite(vmin) and math.isfinite(vmax)):
        return -1.0, 1.0
    if vmax > vmin:
        return vmin, vmax
    half = max(abs(vmin), 1.0) * 1e-6 if vmin != 0 else 1.0
    return vmin - half, vmax + half


def colour_scales(dataset, fields: Sequence[str], times: Sequence[int]) -> list[ColourScale]:
    """Fixed colour limits of ``fields`` over the snapshots ``times`` (read one at a time)."""
    scales = []
    for name in fields:
        cmap, rule = _STYLES.get(name, _DEFAULT_STYLE)
        variable = dataset[name]
        if rule == "symmetric":
            limit = 0.0
            for i in times:
                values = np.abs(variable[i].values)
                values = values[np.isfinite(values)]
                if values.size:
                    limit = max(limit, float(np.percentile(values, ROBUST_PERCENTILE)))
            vmin, vmax = _nonzero_span(-limit, limit)
        else:
            first = variable[times[0]].values
            finite = first[np.isfinite(first)]
            if finite.size:
                vmin, vmax = _nonzero_span(float(finite.min()), float(finite.max()))
            else:
                vmin, vmax = -1.0, 1.0
        scales.append(ColourScale.from_cmocean(cmap, vmin, vmax, name=name))
    return scales


class GlyphFont:
    """Text rasterised once per glyph (PIL, DejaVu Sans from matplotlib) onto a fixed
    background; labels are then built by concatenating the glyph bitmaps."""

    def __init__(self, size: int, fg=TEXT_COLOUR, bg=STRIP_COLOUR):
        from PIL import ImageFont

        try:
            from matplotlib import font_manager

            self.font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
        except Exception:  # pragma: no cover - no FreeType / font: PIL's built-in one
            self.font = ImageFont.load_default()
        self.fg = np.array(fg, dtype=np.float32)
        self.bg = np.array(bg, dtype=np.float32)
        sample = "0123456789tbcuvwxyzdgqpjlkh=.-_"
        box = self.font.getbbox(sample)
        self.top, self.height = box[1], max(1, box[3] - box[1])
        self._glyphs: dict[str, np.ndarray] = {}
        for char in _TIME_CHARS:
            self.glyph(char)

    def _raster(self, text: str) -> np.ndarray:
        from PIL import Image, ImageDraw

        width = max(1, math.ceil(self.font.getlength(text)))
        image = Image.new("L", (width, self.height), 0)
        ImageDraw.Draw(image).text((0, -self.top), text, fill=255, font=self.font)
        alpha = np.asarray(image, dtype=np.float32)[..., None] / 255.0
        return np.rint(self.bg * (1.0 - alpha) + self.fg * alpha).astype(np.uint8)

    def glyph(self, char: str) -> np.ndarray:
        if char not in self._glyphs:
            self._glyphs[char] = self._raster(char)
        return self._glyphs[char]

    def render(self, text: str) -> np.ndarray:
        """(height, width, 3) uint8 bitmap of ``text`` from the cached glyphs."""
        return np.concatenate([self.glyph(char) for char in text], axis=1)

    def render_whole(self, text: str) -> np.ndarray:
        """``text`` rasterised in one go (kerned): for labels drawn once."""
        return self._raster(text)


def time_label(time: float) -> str:
    return f"t = {time:.2f}"


def _blit(frame: np.ndarray, bitmap: np.ndarray, y: int, x: int) -> None:
    height = min(bitmap.shape[0], frame.shape[0] - y)
    width = min(bitmap.shape[1], frame.shape[1] - x)
    if height > 0 and width > 0:
        frame[y : y + height, x : x + width] = bitmap[:height, :width]


class FrameRenderer:
    """Turns one snapshot (a 2-D (z, x) array per field) into an RGB frame.

    Layout, top to bottom: for each field a title strip (field name at the left;
    the first strip also holds the time label at the right) then the panel;
    black padding on the right and bottom up to multiples of 16 pixels.
    """

    def __init__(
        self,
        scales: Sequence[ColourScale],
        nz: int,
        nx: int,
        *,
        cell_aspect: float = 1.0,
        z_ascending: bool = True,
        target_width: int = TARGET_WIDTH,
    ):
        self.scales = list(scales)
        self.nz, self.nx = nz, nx
        self.z_ascending = z_ascending
        self.sx = max(1, round(target_width / nx))
        ratio = cell_aspect if math.isfinite(cell_aspect) and cell_aspect > 0 else 1.0
        self.sz = max(1, min(4 * self.sx, round(self.sx * ratio)))
        panel_h, panel_w = nz * self.sz, nx * self.sx
        self.font = GlyphFont(size=max(11, min(22, panel_w // 32)))
        strip_h = self.font.height + 6
        self.text_y = 3

        self.panel_boxes: list[tuple[int, int, int, int]] = []
        self.strip_boxes: list[tuple[int, int, int, int]] = []
        y = 0
        for _ in self.scales:
            self.strip_boxes.append((y, y + strip_h, 0, panel_w))
            y += strip_h
            self.panel_boxes.append((y, y + panel_h, 0, panel_w))
            y += panel_h
        height = MACRO_BLOCK * math.ceil(y / MACRO_BLOCK)
        width = MACRO_BLOCK * math.ceil(panel_w / MACRO_BLOCK)
        self.frame_shape = (height, width, 3)

        template = np.empty(self.frame_shape, dtype=np.uint8)
        template[:] = PAD_COLOUR
        for (y0, y1, x0, x1), scale in zip(self.strip_boxes, self.scales):
            template[y0:y1, x0:x1] = STRIP_COLOUR
            _blit(template, self.font.render_whole(scale.name), y0 + self.text_y, 4)
        self.template = template

        # the time label is right-aligned in a fixed box of the first strip
        widest = self.font.render(time_label(-88888.88)).shape[1]
        y0 = self.strip_boxes[0][0] + self.text_y
        x1 = panel_w - 4
        self.time_box = (y0, y0 + self.font.height, max(0, x1 - widest), x1)

    def render(self, arrays: Sequence[np.ndarray], time: float) -> np.ndarray:
        """RGB frame (uint8, ``frame_shape``) of the panels ``arrays`` at ``time``."""
        frame = self.template.copy()
        for values, scale, (y0, y1, x0, x1) in zip(arrays, self.scales, self.panel_boxes):
            rgb = scale.apply(values)
            if self.z_ascending:
                rgb = rgb[::-1]
            if self.sz > 1:
                rgb = np.repeat(rgb, self.sz, axis=0)
            if self.sx > 1:
                rgb = np.repeat(rgb, self.sx, axis=1)
            frame[y0:y1, x0:x1] = rgb
        label = self.font.render(time_label(time))
        ty0, _, tx0, tx1 = self.time_box
        _blit(frame, label, ty0, max(tx0, tx1 - label.shape[1]))
        return frame


def _half(frame: np.ndarray) -> np.ndarray:
    """Downscale 2x by averaging 2x2 blocks (frame sizes are multiples of 16)."""
    h, w, _ = frame.shape
    blocks = frame[: h - h % 2, : w - w % 2].reshape(h // 2, 2, w // 2, 2, 3)
    return (blocks.mean(axis=(1, 3), dtype=np.float32) + 0.5).astype(np.uint8)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _spacing(coord) -> float:
    values = np.asarray(coord, dtype=float)
    if values.size < 2:
        return float("nan")
    return float(abs(values[-1] - values[0]) / (values.size - 1))


def render_movie(
    run_dir: str | Path,
    *,
    fields: Sequence[str] = ("vorticity", "b"),
    out: str | Path | None = None,
    fps: float = 20,
    formats: Sequence[str] = ("mp4", "gif"),
    max_frames: int | None = None,
) -> list[Path]:
    """Render the snapshots of ``run_dir`` to ``movie.mp4`` / ``movie.gif``.

    One panel per field in ``fields``, stacked top to bottom, z upwards, with the
    time in the corner; colour limits fixed over the movie (see the module
    docstring for the design). The files go to ``out`` (a directory, created if
    needed; default ``run_dir``), written under temporary names then moved into
    place. ``max_frames`` keeps every k-th snapshot (k the smallest stride that
    gives at most ``max_frames`` frames), so the movie still spans the whole run.
    GIF frames are downscaled 2x. Returns the paths written, in ``formats`` order.
    Raises :class:`BillowError` for a missing ``fields.nc``, an unknown field or
    format, or a run without snapshots.
    """
    import imageio.v2 as imageio

    from billow.runner import open_run

    run_dir = Path(run_dir)
    fields = [fields] if isinstance(fields, str) else list(fields)
    formats = [formats] if isinstance(formats, str) else [f.lower().lstrip(".") for f in formats]
    if not fields:
        raise BillowError("no fields to render: give at least one field")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        given = ", ".join(unknown) or "(none)"
        raise BillowError(f"unknown movie format {given}: choose from {', '.join(FORMATS)}")
    if not (fps > 0):
        raise BillowError(f"fps must be positive, got {fps}")
    if max_frames is not None and max_frames < 1:
        raise BillowError(f"max_frames must be at least 1, got {max_frames}")
    source = run_dir / "fields.nc"
    if not source.is_file():
        raise BillowError(f"no fields.nc in {run_dir}: not a billow run directory with snapshots")
    out_dir = Path(out) if out is not None else run_dir

    with open_run(run_dir) as dataset:
        missing = [name for name in fields if name not in dataset.data_vars]
        if missing:
            raise BillowError(
                f"field {', '.join(missing)} not in {source}; available: "
                f"{', '.join(map(str, dataset.data_vars))}"
            )
        variables = [dataset[name].transpose("time", "z", "x") for name in fields]
        n_snapshots = dataset.sizes.get("time", 0)
        if n_snapshots == 0:
            raise BillowError(f"{source} holds no snapshots")
        stride = 1 if max_frames is None else math.ceil(n_snapshots / max_frames)
        times = list(range(0, n_snapshots, stride))

        scales = colour_scales(dataset, fields, times)
        z = np.asarray(dataset["z"]) if "z" in dataset.coords else np.arange(dataset.sizes["z"])
        x = np.asarray(dataset["x"]) if "x" in dataset.coords else np.arange(dataset.sizes["x"])
        renderer = FrameRenderer(
            scales,
            dataset.sizes["z"],
            dataset.sizes["x"],
            cell_aspect=_spacing(z) / _spacing(x),
            z_ascending=bool(z.size < 2 or z[-1] >= z[0]),
        )
        time_values = np.asarray(dataset["time"]) if "time" in dataset.coords else None

        out_dir.mkdir(parents=True, exist_ok=True)
        finals, temps, writers = [], [], []
        try:
            for fmt in formats:
                handle, temp = tempfile.mkstemp(prefix=".movie-", suffix=f".{fmt}", dir=out_dir)
                os.close(handle)
                temps.append(Path(temp))
                finals.append(out_dir / f"movie.{fmt}")
                if fmt == "mp4":
                    writer = imageio.get_writer(
                        temp,
                        format="FFMPEG",
                        fps=fps,
                        codec="libx264",
                        quality=7,
                        macro_block_size=MACRO_BLOCK,
                        ffmpeg_log_level="error",
                    )
                else:
                    writer = imageio.get_writer(
                        temp, extension=".gif", mode="I", duration=1000.0 / fps, loop=0
                    )
                writers.append((fmt, writer))
            for i in times:
                arrays = [variable[i].values for variable in variables]
                t = float(time_values[i]) if time_values is not None else float(i)
                frame = renderer.render(arrays, t)
                small = None
                for fmt, writer in writers:
                    if fmt == "gif":
                        small = _half(frame) if small is None else small
                        writer.append_data(small)
                    else:
                        writer.append_data(frame)
            while writers:
                writers.pop()[1].close()
            mode = 0o666 & ~_umask()  # mkstemp made them private
            for temp, final in zip(temps, finals):
                os.chmod(temp, mode)
                os.replace(temp, final)
        finally:
            for _, writer in writers:
                try:
                    writer.close()
                except Exception:
                    pass
            for temp in temps:
                temp.unlink(missing_ok=True)
    return finals
