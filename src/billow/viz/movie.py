"""Movies of a run (``movie.mp4``, ``movie.gif``) rendered straight from the arrays.

Design
------
A frame is built with numpy alone, never with a matplotlib figure:

1. **array -> colour index**: each field of a snapshot is normalised with *fixed*
   colour limits (on the cells, before upscaling: the two commute) and quantised to
   a uint8 index 0..255;
2. **index -> RGB**: the index looks up a table (LUT) of the 256 colours of a
   cmocean colormap (``balance`` for vorticity and velocities, ``thermal`` for
   buoyancy, ``dense`` for the tracer);
3. **panels -> frame**: the field values are upscaled to the panel's pixels by
   bilinear interpolation (two gathers and a blend per axis, periodic in x; the
   domain's aspect ratio kept), z upwards on screen, before the colour lookup, and written
   into a template drawn once with PIL: the title (case and parameters), a name
   strip over each panel, z/d and x/d axes with ticks, a colourbar with its limits
   beside each panel, padding up to a multiple of 16 pixels (H.264 macroblocks, so
   ffmpeg never resizes);
4. **time label**: the glyphs of ``"t = 12.50"`` were rasterised once (PIL,
   which ships with matplotlib) onto the strip colour and are copied in as
   small RGB bitmaps;
5. **time**: a movie lasts at least MIN_DURATION seconds: with fewer snapshots
   than frames, the frames between two snapshots blend them linearly in time.

The colour limits are fixed for the whole movie, so colours mean the same
value in every frame: vorticity (and u, w, v) use symmetric limits
``±max over the shown snapshots of the 99.5th percentile of |field|`` (robust to
a few extreme cells); buoyancy and tracer use the min/max of the first
snapshot, which by the maximum principle bounds every later snapshot.

Why it is fast: per frame the work is a few vectorised numpy passes over the
pixels (upscale, clip, take from the LUT), with no figure, axes, text layout or
Agg rasterisation, into one frame buffer redrawn in place (only the panels and
the time change); the snapshots are read straight with h5py and streamed one at
a time from ``fields.nc`` (memory stays at one snapshot), each frame being fed to
the MP4 and GIF writers in a single pass. The MP4 is libx264's "veryfast" preset
on one thread (X264_OPTIONS). The GIF takes every GIF_STRIDE-th frame at
GIF_SCALE with one palette for the whole movie (from GIF_PALETTE_SAMPLES frames,
plus the strip, text and colour-map end colours exactly): per frame only the
panels and the time label are resized and mapped to it, and only the pixels that
changed are written, the others transparent; it is streamed to the file too.
Both files are written under temporary names in the output directory and moved
into place with ``os.replace``, so a crash never leaves a half-written ``movie.mp4``.
"""

from __future__ import annotations

import importlib.util
import math
import os
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import h5py
import numpy as np

from ..errors import BillowError
from ..io.netcdf import check_segments
from ..io.rundir import require_run_directory
from . import import_cmocean

#: Panel width in pixels (the cells are interpolated onto it).
TARGET_WIDTH = 512
#: Shortest default movie, in seconds: with few snapshots, frames are interpolated in time.
MIN_DURATION = 10.0
#: Text size in pixels (title, field names, ticks, time).
FONT_SIZE = 14
#: Colourbar width in pixels.
COLOURBAR_WIDTH = 14
#: The GIF shows every GIF_STRIDE-th frame (at fps / GIF_STRIDE, so as long as the MP4),
#: scaled by GIF_SCALE (LZW coding, its main cost, and its size grow with the pixels).
GIF_STRIDE = 2
GIF_SCALE = 0.75
#: The GIF's palette comes from this many frames spread over the movie; its last
#: index marks the pixels unchanged since the previous GIF frame.
GIF_PALETTE_SAMPLES = 8
GIF_TRANSPARENT = 255
#: Frame width and height are padded to multiples of this (H.264 macroblocks).
MACRO_BLOCK = 16
#: libx264's settings for the MP4: the "veryfast" preset with the fastest subpixel
#: search and no psychovisual tuning, at crf 14, costs a third of the CPU of x264's
#: default ("medium" at imageio's quality 7 = crf 15) for about the same file size and
#: a higher PSNR on these frames (smooth fields, flat text strips); one encoder thread
#: (x264's default is 1.5 a core) so that a movie uses one core besides Python's.
X264_OPTIONS = (
    *("-preset", "veryfast", "-tune", "psnr", "-crf", "14"),
    *("-x264-params", "subme=1", "-threads", "1"),
)
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
    """The 256 colours of the cmocean colormap ``name`` as a (256, 3) uint8 array.

    cmocean makes its colormap from the 256 colours of its data file ``rgb/NAME-rgb.txt``
    (a matplotlib LinearSegmentedColormap of N = 256 through them: its 256 colours are the
    file's rows), so the table is read from that file where cmocean has one, without
    importing cmocean, which imports matplotlib.pyplot (0.7 s of a movie's start-up);
    else from cmocean's colormap."""
    rows = _cmocean_colours(name)
    if rows is None:
        cmap = getattr(import_cmocean().cm, name)
        rows = cmap(np.linspace(0.0, 1.0, 256))[:, :3]
    return np.rint(rows * 255).astype(np.uint8)


def _package_file(package: str, *parts: str) -> Path | None:
    """The file ``parts`` inside an installed package's folder, or None where the package
    or the file is missing; found without importing the package."""
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location).joinpath(*parts)
        if path.is_file():
            return path
    return None


def _cmocean_colours(name: str) -> np.ndarray | None:
    """The (256, 3) colours in [0, 1] of cmocean's data file for colormap ``name``, or None
    where cmocean has no such file of 256 colours (found without importing cmocean)."""
    path = _package_file("cmocean", "rgb", f"{name}-rgb.txt")
    if path is None:
        return None
    try:
        rows = np.loadtxt(path)
    except (OSError, ValueError):
        return None
    if rows.shape != (256, 3) or not ((rows >= 0) & (rows <= 1)).all():
        return None
    return rows


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
        """RGB image (..., 3) uint8 of ``values`` (np.take: 4x faster than fancy indexing)."""
        return np.take(self.lut, self.index(values), axis=0)


def _nonzero_span(vmin: float, vmax: float) -> tuple[float, float]:
    if not (math.isfinite(vmin) and math.isfinite(vmax)):
        return -1.0, 1.0
    if vmax > vmin:
        return vmin, vmax
    half = max(abs(vmin), 1.0) * 1e-6 if vmin != 0 else 1.0
    return vmin - half, vmax + half


def colour_scales(dataset, fields: Sequence[str], times: Sequence[int]) -> list[ColourScale]:
    """Fixed colour limits of ``fields`` over the snapshots ``times`` (read one at a time);
    ``dataset[name][i]`` is snapshot i of a field (:func:`field_readers`, or an xarray
    Dataset with time first)."""
    scales = []
    for name in fields:
        cmap, rule = _STYLES.get(name, _DEFAULT_STYLE)
        variable = dataset[name]
        if rule == "symmetric":
            limit = 0.0
            for i in times:
                values = np.abs(np.asarray(variable[i]))
                if not np.isfinite(values).all():
                    values = values[np.isfinite(values)]
                if values.size:
                    limit = max(limit, float(np.percentile(values, ROBUST_PERCENTILE)))
            vmin, vmax = _nonzero_span(-limit, limit)
        else:
            first = np.asarray(variable[times[0]])
            finite = first[np.isfinite(first)]
            if finite.size:
                vmin, vmax = _nonzero_span(float(finite.min()), float(finite.max()))
            else:
                vmin, vmax = -1.0, 1.0
        scales.append(ColourScale.from_cmocean(cmap, vmin, vmax, name=name))
    return scales


class FieldReader:
    """Snapshot i of one field of ``fields.nc`` as a (z, x) array, ``reader[i]``, read
    straight with h5py (through xarray a read cost ~4 ms of indexing, 20x the read).
    ``dims``: the dataset's dimensions, by default the names of its dimension scales."""

    def __init__(self, variable, dims: Sequence[str] | None = None):
        if dims is None:
            dims = [PurePosixPath(dim[0].name).name if len(dim) else "" for dim in variable.dims]
        self.variable = variable
        self.axis = list(dims).index("time")
        self.n_snapshots = variable.shape[self.axis]
        rest = [d for d in dims if d != "time"]
        self.transposed = rest == ["x", "z"]
        sizes = dict(zip(dims, variable.shape))
        self.shape = (sizes["z"], sizes["x"])

    def __getitem__(self, i: int) -> np.ndarray:
        key = (slice(None),) * self.axis + (i,)
        values = self.variable[key]
        return values.T if self.transposed else values


def field_readers(h5file, fields: Sequence[str]) -> dict[str, FieldReader]:
    """A :class:`FieldReader` per field of ``h5file`` (``fields.nc`` opened by h5py)."""
    return {name: FieldReader(h5file[name]) for name in fields}


def _coordinate(h5file, name: str, size: int) -> np.ndarray:
    """The values of coordinate ``name`` (0, 1, ... without one)."""
    if name in h5file and h5file[name].shape == (size,):
        return np.asarray(h5file[name][()])
    return np.arange(size)


def _attributes(h5file) -> dict:
    """The file's global attributes, strings decoded (netCDF's own ``_...`` left out)."""
    return {
        key: value.decode() if isinstance(value, bytes) else value
        for key, value in h5file.attrs.items()
        if not key.startswith("_")
    }


def _dejavu_sans() -> Path:
    """The DejaVu Sans font file that ships with matplotlib (in its ``mpl-data``), found
    without importing matplotlib (0.3 s); else matplotlib's font manager's choice."""
    path = _package_file("matplotlib", "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")
    if path is not None:
        return path
    from matplotlib import font_manager  # viz extra, on use

    return Path(font_manager.findfont("DejaVu Sans"))


class GlyphFont:
    """Text rasterised once per glyph (PIL, DejaVu Sans from matplotlib) onto a fixed
    background; labels are then built by concatenating the glyph bitmaps."""

    def __init__(self, size: int, fg=TEXT_COLOUR, bg=STRIP_COLOUR):
        from PIL import ImageFont  # viz extra, on use

        try:
            self.font = ImageFont.truetype(str(_dejavu_sans()), size)
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
        from PIL import Image, ImageDraw  # viz extra, on use

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


def nice_ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    """Round tick values inside [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return np.array([low])
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = np.arange(first, high + 1e-9 * step, step)
    return np.where(np.abs(ticks) < 1e-12 * step, 0.0, ticks)


def interpolation_weights(
    n_cells: int, n_pixels: int, periodic: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation from cell centres to pixel centres over the same span: pixel
    p is ``(1 - weight[p]) * cells[lower[p]] + weight[p] * cells[upper[p]]``. Periodic
    wraps around, otherwise the end cells extend to the edges."""
    position = (np.arange(n_pixels) + 0.5) * n_cells / n_pixels - 0.5
    if not periodic:
        position = np.clip(position, 0.0, n_cells - 1.0)
    lower = np.floor(position).astype(np.intp)
    weight = (position - lower).astype(np.float32)
    upper = (lower + 1) % n_cells if periodic else np.minimum(lower + 1, n_cells - 1)
    return lower % n_cells, upper, weight


def _interpolate_along(values, axis, gathers, out, step):
    """out = values[lower] + weight (values[upper] - values[lower]) along ``axis``, with
    ``gathers`` = (lower, upper, weight); ``step`` is a work array shaped like ``out``."""
    lower, upper, weight = gathers
    np.take(values, lower, axis=axis, out=out, mode="clip")
    np.take(values, upper, axis=axis, out=step, mode="clip")
    step -= out
    step *= weight
    out += step
    return out


class Upscaler:
    """Bilinear upscaling of (nz, nx) cells to a (height, width) panel, periodic in x, z
    upwards if ``z_ascending``: per axis two gathers and a blend (two weights a pixel,
    where a dense matrix product spends nz or nx multiplications: 0.25 vs 2.4 ms for
    192 x 384 cells onto 256 x 512 pixels). Works in float32 in reused buffers."""

    def __init__(self, nz: int, nx: int, height: int, width: int, z_ascending: bool = True):
        self.x = interpolation_weights(nx, width, periodic=True)
        lower, upper, weight = interpolation_weights(nz, height, periodic=False)
        if z_ascending:  # the top pixel row shows the largest z
            lower, upper, weight = lower[::-1].copy(), upper[::-1].copy(), weight[::-1].copy()
        self.z = (lower, upper, weight[:, None])
        self.shape = (height, width)
        self._rows = np.empty((2, nz, width), np.float32)
        self._panel = np.empty((2, height, width), np.float32)
        self._cells = np.empty((nz, nx), np.float32)
        self._index = np.empty((height, width), np.uint8)

    def __call__(self, cells: np.ndarray) -> np.ndarray:
        """(height, width) float32 values; the buffer is overwritten by the next call."""
        cells = np.asarray(cells, dtype=np.float32)
        rows = _interpolate_along(cells, 1, self.x, *self._rows)
        return _interpolate_along(rows, 0, self.z, *self._panel)

    def colour_index(self, values: np.ndarray, scale: ColourScale) -> np.ndarray:
        """:meth:`ColourScale.index` of the upscaled ``values``, normalised on the cells
        (normalising commutes with interpolation); a buffer reused by the next call."""
        cells = self._cells
        with np.errstate(over="ignore", invalid="ignore"):
            np.copyto(cells, values, casting="unsafe")
            np.nan_to_num(cells, copy=False)
            cells -= np.float32(scale.vmin)
            cells *= np.float32(256.0 / (scale.vmax - scale.vmin))
            np.clip(cells, -1e30, 1e30, out=cells)  # no inf - inf in the blend
        panel = self(cells)
        np.clip(panel, 0.0, 255.0, out=panel)
        np.copyto(self._index, panel, casting="unsafe")
        return self._index


class FrameRenderer:
    """Turns one snapshot (a 2-D (z, x) array per field) into an RGB frame.

    Layout, top to bottom: a title strip (``title`` at the left, the time at the right);
    for each field a strip with its name, then the panel with z/d ticks at its left and
    a colourbar with its limits at its right; x/d ticks under the last panel; black
    padding up to multiples of 16 pixels. Everything but the panels and the time is
    drawn once, into a template. Panels are upscaled from the cells by bilinear
    interpolation (periodic in x), z upwards.
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
        extent: tuple[float, float, float, float] | None = None,
        title: str = "",
    ):
        from PIL import Image, ImageDraw  # viz extra, on use

        self.scales = list(scales)
        self.nz, self.nx = nz, nx
        self.z_ascending = z_ascending
        ratio = cell_aspect if math.isfinite(cell_aspect) and cell_aspect > 0 else 1.0
        panel_w = target_width
        panel_h = int(min(2 * panel_w, max(panel_w / 4, round(panel_w * ratio * nz / nx))))
        self.upscaler = Upscaler(nz, nx, panel_h, panel_w, z_ascending)
        self.font = GlyphFont(size=FONT_SIZE)
        text_h = self.font.height
        x_min, x_max, z_min, z_max = extent if extent is not None else (0, nx, 0, nz)
        z_ticks, x_ticks = nice_ticks(z_min, z_max), nice_ticks(x_min, x_max)
        label_w = max(self.font.font.getlength(_tick(v)) for v in z_ticks)
        left = int(math.ceil(label_w)) + text_h + 14  # "z/d", tick labels, tick marks
        bar_x = left + panel_w + 10
        bar_labels = [
            [_tick(v, s.vmax - s.vmin) for v in (s.vmax, 0.5 * (s.vmin + s.vmax), s.vmin)]
            for s in self.scales
        ]
        bar_label_w = max(self.font.font.getlength(t) for labels in bar_labels for t in labels)
        width = bar_x + COLOURBAR_WIDTH + 6 + int(math.ceil(bar_label_w)) + 6
        title_h = text_h + 10
        strip_h = text_h + 6

        self.panel_boxes: list[tuple[int, int, int, int]] = []
        self.strip_boxes: list[tuple[int, int, int, int]] = []
        self.colourbar_boxes: list[tuple[int, int, int, int]] = []
        y = title_h
        for _ in self.scales:
            self.strip_boxes.append((y, y + strip_h, 0, width))
            y += strip_h
            self.panel_boxes.append((y, y + panel_h, left, left + panel_w))
            self.colourbar_boxes.append((y, y + panel_h, bar_x, bar_x + COLOURBAR_WIDTH))
            y += panel_h
        y_axis = y
        y += 2 * text_h + 14  # x tick labels and "x/d"
        self.frame_shape = (
            MACRO_BLOCK * math.ceil(y / MACRO_BLOCK),
            MACRO_BLOCK * math.ceil(width / MACRO_BLOCK),
            3,
        )

        image = Image.new("RGB", self.frame_shape[1::-1], STRIP_COLOUR)
        draw = ImageDraw.Draw(image)
        font, fg = self.font.font, TEXT_COLOUR
        draw.text((6, 5 - self.font.top), title, fill=fg, font=font)
        for (y0, y1, x0, x1), (sy0, *_), scale, labels in zip(
            self.panel_boxes, self.strip_boxes, self.scales, bar_labels
        ):
            name = PANEL_NAMES.get(scale.name, scale.name)
            draw.text((x0, sy0 + 3 - self.font.top), name, fill=fg, font=font)
            draw.rectangle((x0 - 1, y0 - 1, x1, y1), outline=fg)
            for value in z_ticks:  # z/d ticks at the left
                row = y0 + (z_max - value) / (z_max - z_min) * (y1 - y0)
                if not z_ascending:
                    row = y0 + y1 - row
                draw.line((x0 - 6, row, x0 - 1, row), fill=fg)
                text = _tick(value)
                tx = x0 - 8 - font.getlength(text)
                draw.text((tx, row - text_h / 2 - self.font.top), text, fill=fg, font=font)
            # colourbar: vmax at the top
            bar = np.repeat(scale.lut[::-1][:, None, :], COLOURBAR_WIDTH, axis=1)
            bar_image = Image.fromarray(bar).resize((COLOURBAR_WIDTH, y1 - y0), Image.BILINEAR)
            image.paste(bar_image, (bar_x, y0))
            draw.rectangle((bar_x - 1, y0 - 1, bar_x + COLOURBAR_WIDTH, y1), outline=fg)
            for fraction, text in zip((0.0, 0.5, 1.0), labels):
                row = y0 + fraction * (y1 - y0 - 1)
                draw.line((bar_x + COLOURBAR_WIDTH, row, bar_x + COLOURBAR_WIDTH + 4, row), fill=fg)
                ty = min(max(row - text_h / 2, y0 - 2), y1 - text_h)
                draw.text(
                    (bar_x + COLOURBAR_WIDTH + 6, ty - self.font.top), text, fill=fg, font=font
                )
        y0, y1, x0, x1 = self.panel_boxes[0]
        z_label = Image.new("RGB", (int(font.getlength("z/d")) + 2, text_h + 2), STRIP_COLOUR)
        ImageDraw.Draw(z_label).text((0, -self.font.top), "z/d", fill=fg, font=font)
        for y0, y1, _, _ in self.panel_boxes:
            rotated = z_label.rotate(90, expand=True)
            image.paste(rotated, (2, (y0 + y1 - rotated.height) // 2))
        _, _, x0, x1 = self.panel_boxes[-1]
        for value in x_ticks:  # x/d ticks under the last panel
            column = x0 + (value - x_min) / (x_max - x_min) * (x1 - x0)
            draw.line((column, y_axis, column, y_axis + 5), fill=fg)
            text = _tick(value)
            tx = column - font.getlength(text) / 2
            draw.text((tx, y_axis + 6 - self.font.top), text, fill=fg, font=font)
        x_text = (x0 + x1 - font.getlength("x/d")) / 2
        draw.text((x_text, y_axis + text_h + 10 - self.font.top), "x/d", fill=fg, font=font)
        self.template = np.asarray(image, dtype=np.uint8).copy()

        # the time label is right-aligned in a fixed box of the title strip
        widest = self.font.render(time_label(-88888.88)).shape[1]
        x1 = self.frame_shape[1] - 6
        self.time_box = (5, 5 + text_h, max(0, x1 - widest), x1)

    def upscale(self, values: np.ndarray) -> np.ndarray:
        """(H, W) panel values: bilinear from the (nz, nx) cells, z upwards."""
        return self.upscaler(np.nan_to_num(np.asarray(values, dtype=np.float32))).copy()

    def render(
        self, arrays: Sequence[np.ndarray], time: float, out: np.ndarray | None = None
    ) -> np.ndarray:
        """RGB frame (uint8, ``frame_shape``) of the panels ``arrays`` at ``time``; ``out``,
        a frame it returned before, is redrawn in place (only panels and time change)."""
        frame = self.template.copy() if out is None else out
        for values, scale, (y0, y1, x0, x1) in zip(arrays, self.scales, self.panel_boxes):
            index = self.upscaler.colour_index(values, scale)
            frame[y0:y1, x0:x1] = np.take(scale.lut, index, axis=0)
        ty0, ty1, tx0, tx1 = self.time_box
        if out is not None:
            frame[ty0:ty1, tx0:tx1] = self.template[ty0:ty1, tx0:tx1]
        label = self.font.render(time_label(time))
        _blit(frame, label, ty0, max(tx0, tx1 - label.shape[1]))
        return frame


#: Panel titles: the field and its units
PANEL_NAMES = {
    "vorticity": "vorticity \u03c9 (U0/d)",
    "b": "buoyancy b (U0\u00b2/d)",
    "u": "u (U0)",
    "w": "w (U0)",
    "v": "v (U0)",
    "c": "dye concentration c",
}


def _tick(value: float, span: float = 0.0) -> str:
    """A tick label with a true minus sign; round-off (below 1e-9 of ``span``) is 0."""
    if abs(value) <= 1e-9 * abs(span):
        value = 0.0
    return f"{value:.3g}".replace("-", "\u2212") if value < 0 else f"{value:.3g}"


def gif_palette(samples: Sequence[np.ndarray], scales: Sequence[ColourScale]) -> np.ndarray:
    """The GIF's one palette, (256, 3) uint8, from a few frames ``samples`` (RGB at the
    GIF's size): the strip and text colours and both ends of every colour map, exactly,
    then PIL's fast octree quantization of the samples for the rest; the last entry
    (:data:`GIF_TRANSPARENT`) is left for the unchanged pixels."""
    from PIL import Image  # viz extra, on use

    reserved = [STRIP_COLOUR, TEXT_COLOUR]
    reserved += [tuple(lut[end]) for lut in (s.lut for s in scales) for end in (0, -1)]
    reserved = np.array(list(dict.fromkeys(map(tuple, reserved))), dtype=np.uint8)
    mosaic = Image.fromarray(np.concatenate(list(samples), axis=0))
    quantized = mosaic.quantize(GIF_TRANSPARENT - len(reserved), method=Image.Quantize.FASTOCTREE)
    found = np.array(quantized.getpalette()[: 3 * 256], dtype=np.uint8).reshape(-1, 3)
    found = found[np.unique(np.asarray(quantized))]
    palette = np.concatenate([reserved, found])[:GIF_TRANSPARENT]
    return np.concatenate([palette, np.zeros((256 - len(palette), 3), np.uint8)])


class ResampledBox:
    """A box of the frame at another scale, resized on its own: PIL's antialiased
    bilinear resize of the box's source plus a margin wider than the filter, so that its
    pixels equal those of the whole frame resized (as GIF frames were made)."""

    def __init__(self, box: tuple[int, int, int, int], frame_shape, size: tuple[int, int]):
        height, width = frame_shape[:2]
        sx, sy = size[0] / width, size[1] / height
        y0, y1, x0, x1 = box
        gy0, gx0 = max(0, math.floor(y0 * sy) - 1), max(0, math.floor(x0 * sx) - 1)
        gy1, gx1 = min(size[1], math.ceil(y1 * sy) + 1), min(size[0], math.ceil(x1 * sx) + 1)
        self.target = (gy0, gy1, gx0, gx1)
        ry0, rx0 = max(0, math.floor(gy0 / sy) - 3), max(0, math.floor(gx0 / sx) - 3)
        ry1, rx1 = min(height, math.ceil(gy1 / sy) + 3), min(width, math.ceil(gx1 / sx) + 3)
        self.source = (ry0, ry1, rx0, rx1)
        self.size = (gx1 - gx0, gy1 - gy0)
        self.box = (gx0 / sx - rx0, gy0 / sy - ry0, gx1 / sx - rx0, gy1 / sy - ry0)

    def resize(self, frame: np.ndarray):
        """The box of ``frame`` (full size, RGB) at the other scale, a PIL image."""
        from PIL import Image  # viz extra, on use

        ry0, ry1, rx0, rx1 = self.source
        source = Image.fromarray(np.ascontiguousarray(frame[ry0:ry1, rx0:rx1]))
        return source.resize(self.size, Image.BILINEAR, box=self.box)


class GifRenderer:
    """GIF frames from a :class:`FrameRenderer`'s RGB frames: scaled by GIF_SCALE (PIL's
    antialiased bilinear) as indices into one palette (:func:`gif_palette`, from
    ``samples``, a few frames of the movie). The template is resized and mapped once; per
    frame only the boxes that change (the panels, the time) are resized and mapped to the
    palette (PIL, nearest colour, no dithering): no whole-frame resize, no palette per
    frame."""

    def __init__(
        self, renderer: FrameRenderer, samples: Sequence[np.ndarray], scale: float = GIF_SCALE
    ):
        from PIL import Image  # viz extra, on use

        height, width, _ = renderer.frame_shape
        self.size = (round(width * scale), round(height * scale))  # PIL's (width, height)

        def small(frame):
            return np.asarray(Image.fromarray(frame).resize(self.size, Image.BILINEAR))

        self.palette = gif_palette([small(f) for f in samples], renderer.scales)
        self._palette_image = Image.new("P", (1, 1))
        self._palette_image.putpalette(self.palette[:GIF_TRANSPARENT].tobytes())
        self.template = self.quantize(Image.fromarray(small(renderer.template)))
        boxes = [*renderer.panel_boxes, renderer.time_box]
        self.boxes = [ResampledBox(box, renderer.frame_shape, self.size) for box in boxes]

    def quantize(self, image) -> np.ndarray:
        """Palette indices (uint8) of a PIL RGB image: the nearest colour, no dithering."""
        from PIL import Image  # viz extra, on use

        quantized = image.quantize(palette=self._palette_image, dither=Image.Dither.NONE)
        return np.asarray(quantized)

    def render(self, frame: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(height, width) uint8 palette indices of ``frame``; ``out``, a frame it returned
        before, is redrawn in place (only the panels and the time change)."""
        indices = self.template.copy() if out is None else out
        for box in self.boxes:
            y0, y1, x0, x1 = box.target
            indices[y0:y1, x0:x1] = self.quantize(box.resize(frame))
        return indices


class GifWriter:
    """An animated GIF written frame by frame (memory: one frame), looping forever: a
    header with the one palette, then per frame its delay and the box of the pixels that
    changed, the others transparent (:data:`GIF_TRANSPARENT`, left in place), LZW-coded
    by PIL's GIF encoder. Frames are (height, width) uint8 palette indices."""

    def __init__(self, path: Path, size: tuple[int, int], palette: np.ndarray, duration: float):
        self.size = size
        self.delay = int(duration / 10)  # centiseconds, truncated as PIL does
        self.previous: np.ndarray | None = None
        self.file = open(path, "wb")
        width, height = size
        self.file.write(b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0))
        self.file.write(np.asarray(palette, dtype=np.uint8).tobytes())  # 256 colours
        self.file.write(b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")  # loop forever

    def append_data(self, indices: np.ndarray) -> None:
        from PIL import Image  # viz extra, on use

        width, height = self.size
        if indices.shape != (height, width):
            raise ValueError(f"GIF frame of shape {indices.shape}, not {(height, width)}")
        if self.previous is None:
            y0, y1, x0, x1 = 0, height, 0, width
            patch, self.previous = indices, indices.copy()
        else:
            changed = indices != self.previous
            rows = np.flatnonzero(changed.any(axis=1))
            columns = np.flatnonzero(changed.any(axis=0))
            if rows.size:
                y0, y1, x0, x1 = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
            else:
                y0, y1, x0, x1 = 0, 1, 0, 1  # the same frame: one transparent pixel
            box = np.s_[y0:y1, x0:x1]
            patch = np.where(changed[box], indices[box], np.uint8(GIF_TRANSPARENT))
            np.copyto(self.previous, indices)
        # graphic control: leave in place (disposal 1), transparent index, delay
        control = b"!\xf9\x04\x05" + struct.pack("<HBB", self.delay, GIF_TRANSPARENT, 0)
        descriptor = b"," + struct.pack("<HHHHB", x0, y0, x1 - x0, y1 - y0, 0) + b"\x08"
        data = Image.fromarray(np.ascontiguousarray(patch, dtype=np.uint8)).tobytes("gif", "L")
        self.file.write(control + descriptor + data + b"\x00")

    def close(self) -> None:
        if not self.file.closed:
            self.file.write(b";")
            self.file.close()


def frame_schedule(
    n_snapshots: int, fps: float, min_duration: float, max_frames: int | None
) -> list[tuple[int, float]]:
    """The frames as (snapshot k, fraction a): each shows (1 - a) snapshot k + a snapshot
    k + 1. With fewer snapshots than ``min_duration * fps`` frames, every interval is split
    into equal steps (the snapshots among the frames); with more than ``max_frames``, every
    k-th snapshot is kept (the smallest stride that fits)."""
    wanted = math.ceil(min_duration * fps) + 1
    if max_frames is not None:
        wanted = min(wanted, max_frames)
    if n_snapshots >= wanted or n_snapshots < 2:
        stride = 1 if max_frames is None else math.ceil(n_snapshots / max_frames)
        return [(k, 0.0) for k in range(0, n_snapshots, stride)]
    steps = math.ceil((wanted - 1) / (n_snapshots - 1))
    frames = [(k, j / steps) for k in range(n_snapshots - 1) for j in range(steps)]
    return frames + [(n_snapshots - 1, 0.0)]


def movie_title(attrs: dict, nz: int, nx: int) -> str:
    """``shear_layer   Re = 1000, Ri = 0.1, Pr = 1   128 × 128`` from a run's attributes."""
    shown = [k for k in ("Re", "Ri", "Pr", "Ro", "forcing_rate", "F0", "N2") if k in attrs]
    values = ", ".join(f"{k} = {_attribute_text(attrs[k])}" for k in shown)
    return f"{attrs.get('case', 'billow')}   {values}   {nx} \u00d7 {nz}"


def _attribute_text(value) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _extent(x: np.ndarray, z: np.ndarray) -> tuple[float, float, float, float]:
    """The domain (x_min, x_max, z_min, z_max) covered by cell centres x, z."""
    dx, dz = _spacing(x), _spacing(z)
    dx = dx if math.isfinite(dx) else 1.0
    dz = dz if math.isfinite(dz) else 1.0
    return (
        float(x.min() - dx / 2),
        float(x.max() + dx / 2),
        float(z.min() - dz / 2),
        float(z.max() + dz / 2),
    )


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
    min_duration: float = MIN_DURATION,
) -> list[Path]:
    """Render the snapshots of ``run_dir`` to ``movie.mp4`` / ``movie.gif``.

    One panel per field in ``fields``, stacked top to bottom, z upwards, with axes in
    units of d, a colourbar each, and a title with the case, its parameters and the
    time; colour limits fixed over the movie (see the module docstring for the
    design). The movie lasts at least ``min_duration`` seconds at ``fps``: with fewer
    snapshots, frames between them are interpolated linearly in time
    (:func:`frame_schedule`). The files go to ``out`` (a directory, created if
    needed; default ``run_dir``), written under temporary names then moved into
    place. ``max_frames`` caps the frames: beyond it every k-th snapshot is kept (k the
    smallest stride that fits), so the movie still spans the whole run. The GIF has
    every GIF_STRIDE-th frame, scaled by GIF_SCALE, with one palette (:class:`GifRenderer`).
    Returns the paths written, in
    ``formats`` order.
    Raises :class:`BillowError` for a missing ``fields.nc``, an unknown field or
    format, or a run without snapshots.
    """
    import imageio.v2 as imageio  # viz extra, on use

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
    source = require_run_directory(run_dir, containing="fields.nc") / "fields.nc"
    out_dir = Path(out) if out is not None else run_dir

    check_segments(source)  # a fields.nc copied without its segments/ holds no data
    # no chunk cache: a chunk is one snapshot, read once; HDF5's cache for each segment
    # of the virtual datasets kept ~0.3 MB a snapshot read (+170 MB for 300 x 2 fields)
    with h5py.File(source, "r", rdcc_nbytes=0) as h5file:
        variables = [
            name
            for name, item in h5file.items()
            if isinstance(item, h5py.Dataset) and not h5py.h5ds.is_scale(item.id)
        ]
        missing = [name for name in fields if name not in variables]
        if missing:
            raise BillowError(
                f"field {', '.join(missing)} not in {source}; available: {', '.join(variables)}"
            )
        readers = field_readers(h5file, fields)
        n_snapshots = readers[fields[0]].n_snapshots
        if n_snapshots == 0:
            raise BillowError(f"{source} holds no snapshots")
        schedule = frame_schedule(n_snapshots, fps, min_duration, max_frames)
        times = sorted({k for k, _ in schedule})

        scales = colour_scales(readers, fields, times)
        nz, nx = readers[fields[0]].shape
        z, x = _coordinate(h5file, "z", nz), _coordinate(h5file, "x", nx)
        renderer = FrameRenderer(
            scales,
            nz,
            nx,
            cell_aspect=_spacing(z) / _spacing(x),
            z_ascending=bool(z.size < 2 or z[-1] >= z[0]),
            extent=_extent(x, z),
            title=movie_title(_attributes(h5file), nz, nx),
        )
        time_values = _coordinate(h5file, "time", n_snapshots) if "time" in h5file else None
        gif = None
        if "gif" in formats:  # its palette from a few snapshots spread over the movie
            picks = np.linspace(0, len(times) - 1, GIF_PALETTE_SAMPLES).round().astype(int)
            samples = (
                renderer.render([readers[name][times[i]] for name in fields], 0.0)
                for i in np.unique(picks)
            )
            gif = GifRenderer(renderer, samples)

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
                        quality=None,
                        output_params=list(X264_OPTIONS),
                        macro_block_size=MACRO_BLOCK,
                        ffmpeg_log_level="error",
                    )
                else:
                    duration = 1000.0 * GIF_STRIDE / fps
                    writer = GifWriter(Path(temp), gif.size, gif.palette, duration)
                writers.append((fmt, writer))
            loaded: dict[int, list[np.ndarray]] = {}  # at most two snapshots in memory
            frame = indices = None  # the last frame (RGB) and GIF frame, redrawn in place
            for number, (k, fraction) in enumerate(schedule):
                wanted = [k, k + 1] if fraction > 0 else [k]
                loaded = {i: loaded.get(i) or [readers[f][i] for f in fields] for i in wanted}
                if fraction > 0:
                    arrays = [
                        (1 - fraction) * a + fraction * b for a, b in zip(loaded[k], loaded[k + 1])
                    ]
                else:
                    arrays = loaded[k]
                if time_values is not None:
                    t0 = float(time_values[k])
                    t = t0 + fraction * (float(time_values[k + 1]) - t0) if fraction else t0
                else:
                    t = k + fraction
                in_gif = number % GIF_STRIDE == 0 or number == len(schedule) - 1
                if "mp4" in formats or in_gif:
                    frame = renderer.render(arrays, t, out=frame)
                for fmt, writer in writers:
                    if fmt == "mp4":
                        writer.append_data(frame)
                    elif in_gif:
                        indices = gif.render(frame, out=indices)
                        writer.append_data(indices)
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
