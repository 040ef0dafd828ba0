"""Movie rendering: array -> LUT -> frame, streamed to MP4 and GIF."""

import os
import subprocess
import sys

import h5py
import imageio.v2 as imageio
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

import billow
from billow.errors import BillowError
from billow.viz import import_cmocean
from billow.viz import movie as movie_module
from billow.viz.movie import (
    GIF_SCALE,
    GIF_STRIDE,
    GIF_TRANSPARENT,
    MACRO_BLOCK,
    ColourScale,
    FieldReader,
    FrameRenderer,
    GifRenderer,
    GifWriter,
    Upscaler,
    _attributes,
    colour_scales,
    field_readers,
    frame_schedule,
    movie_title,
    render_movie,
)

N_SNAPSHOTS = 9  # t_end = 4, save_every = 0.5
# at 20 fps for at least 10 s: 200 intervals of frames, 25 between snapshots
N_FRAMES = 8 * 25 + 1


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("movie") / "run"
    billow.run(
        "shear_layer",
        nx=64,
        nz=32,
        Lx=14.0,
        perturbation="sinusoid",
        t_end=4,
        save_every=0.5,
        out=out,
    )
    return out


@pytest.fixture(scope="module")
def movie(run_dir):
    return render_movie(run_dir)


@pytest.fixture(scope="module")
def renderer(run_dir):
    with billow.open_run(run_dir) as dataset:
        scales = colour_scales(dataset, ["vorticity", "b"], range(dataset.sizes["time"]))
        z, x = dataset["z"].values, dataset["x"].values
    return FrameRenderer(scales, z.size, x.size, cell_aspect=(z[1] - z[0]) / (x[1] - x[0]))


def read_mp4(path):
    with imageio.get_reader(path) as reader:
        return [np.asarray(frame) for frame in reader]


def test_writes_mp4_and_gif_into_run_dir(run_dir, movie):
    assert movie == [run_dir / "movie.mp4", run_dir / "movie.gif"]
    assert all(path.stat().st_size > 0 for path in movie)
    assert not [p for p in os.listdir(run_dir) if p.startswith(".movie-")]  # no temp left


def test_mp4_lasts_ten_seconds_with_interpolated_frames(movie, renderer):
    frames = read_mp4(movie[0])
    assert len(frames) == N_FRAMES and len(frames) / 20 >= 10
    height, width, _ = frames[0].shape
    assert (height, width, 3) == renderer.frame_shape
    assert width >= 400 and width % MACRO_BLOCK == 0 and height % MACRO_BLOCK == 0
    # 64 x 32 cells of aspect dz/dx = 2 -> two 512 x 512 panels
    for y0, y1, x0, x1 in renderer.panel_boxes:
        assert (y1 - y0, x1 - x0) == (512, 512)


def test_gif_lasts_as_long_wider_than_256_pixels(movie, renderer):
    frames = imageio.mimread(movie[1])
    assert len(frames) == -(-N_FRAMES // GIF_STRIDE)  # every other frame at 10 fps
    height, width, _ = renderer.frame_shape
    assert frames[0].shape[:2] == (round(height * GIF_SCALE), round(width * GIF_SCALE))
    assert frames[0].shape[1] > 256


def test_frames_between_snapshots_are_interpolated_in_time():
    schedule = frame_schedule(41, fps=20, min_duration=10, max_frames=None)
    assert len(schedule) == 201  # the default run's 41 snapshots: 10.05 s
    assert [k for k, a in schedule if a == 0] == list(range(41))  # every snapshot shown
    assert schedule[1] == (0, 0.2)
    # enough snapshots: one frame each, none invented
    assert frame_schedule(400, 20, 10, None) == [(k, 0.0) for k in range(400)]


def test_interpolated_frame_blends_neighbouring_snapshots(run_dir, tmp_path):
    render_movie(run_dir, fields=["b"], out=tmp_path, formats=["mp4"], fps=2, min_duration=8)
    # 9 snapshots at 2 fps for 8 s: 17 frames, one between each pair
    assert len(read_mp4(tmp_path / "movie.mp4")) == 17


def test_upscaling_is_smooth_not_blocky(renderer):
    # a ramp in x over 64 cells fills a 512-pixel row with ~all 256 colours, where
    # repeating each cell 8 times would show 64 blocks
    scale = renderer.scales[1]
    ramp = np.linspace(scale.vmin, scale.vmax, renderer.nx)[None, :] * np.ones((renderer.nz, 1))
    panel = renderer.upscale(ramp)
    row = scale.index(panel[panel.shape[0] // 2])
    assert len(np.unique(row)) > 200
    # no steps between cells (the first and last half cell blend across the periodic x)
    assert np.abs(np.diff(row[8:-8].astype(int))).max() <= 2


def test_upscaler_is_bilinear_interpolation():
    # against np.interp along x (periodic) then z (end cells extend to the edges)
    cells = np.random.default_rng(1).standard_normal((6, 9)).astype(np.float32)
    xs = (np.arange(40) + 0.5) * 9 / 40 - 0.5
    zs = (np.arange(17) + 0.5) * 6 / 17 - 0.5
    rows = np.array([np.interp(xs, np.arange(9), row, period=9) for row in cells])
    expected = np.array([np.interp(zs, np.arange(6), column) for column in rows.T]).T
    np.testing.assert_allclose(
        Upscaler(6, 9, 17, 40, z_ascending=False)(cells), expected, atol=1e-5
    )
    np.testing.assert_allclose(Upscaler(6, 9, 17, 40)(cells), expected[::-1], atol=1e-5)


def test_colour_index_on_cells_equals_index_of_upscaled_values(renderer):
    # normalising the cells before interpolating gives the same colours (up to round-off)
    scale = renderer.scales[0]
    rng = np.random.default_rng(2)
    values = rng.uniform(-1.5, 1.5, (renderer.nz, renderer.nx)) * scale.vmax
    values[3, 4], values[7, 1], values[9, 9] = np.nan, np.inf, -np.inf
    fast = renderer.upscaler.colour_index(values, scale).astype(int)
    with np.errstate(over="ignore"):
        slow = scale.index(renderer.upscale(values)).astype(int)
    finite = np.isfinite(renderer.upscale(np.where(np.isinf(values), np.nan, values)))
    assert np.abs(fast - slow)[finite].max() <= 1
    assert np.mean(fast != slow) < 0.01


def test_render_in_place_equals_a_fresh_render(renderer):
    rng = np.random.default_rng(3)
    shape = (renderer.nz, renderer.nx)
    first = [rng.standard_normal(shape) for _ in renderer.scales]
    second = [rng.standard_normal(shape) for _ in renderer.scales]
    reused = renderer.render(first, 123.25)
    reused = renderer.render(second, 1.0, out=reused)  # a shorter time label
    assert np.array_equal(reused, renderer.render(second, 1.0))
    gif = GifRenderer(renderer, [reused])
    indices = gif.render(renderer.render(first, 123.25))
    indices = gif.render(reused, out=indices)
    assert np.array_equal(indices, gif.render(reused))


def test_gif_palette_keeps_the_colour_extremes(renderer):
    # a palette from frames without the extremes still shows vmin and vmax exactly
    vorticity, b = renderer.scales
    shape = (renderer.nz, renderer.nx)
    middle = renderer.render([np.zeros(shape), np.full(shape, (b.vmin + b.vmax) / 2)], 0.0)
    gif = GifRenderer(renderer, [middle])
    extremes = renderer.render([np.full(shape, 10 * vorticity.vmax), np.full(shape, b.vmin)], 1.0)
    indices = gif.render(extremes)
    for box, colour in zip(gif.boxes, [vorticity.lut[-1], b.lut[0]]):
        y0, y1, x0, x1 = box.target
        assert (gif.palette[indices[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2]] == colour).all()
    assert vorticity.lut[0].tolist() in gif.palette.tolist()
    assert b.lut[-1].tolist() in gif.palette.tolist()


def test_gif_frame_is_the_whole_frame_resized(renderer):
    # only the panels and the time are resized per frame; the result matches resizing
    # the whole frame, up to the palette
    rng = np.random.default_rng(4)
    shape = (renderer.nz, renderer.nx)
    arrays = [scale.vmax * rng.uniform(-1, 1, shape) for scale in renderer.scales]
    frame = renderer.render(arrays, 37.5)
    gif = GifRenderer(renderer, [frame])
    whole = np.asarray(Image.fromarray(frame).resize(gif.size, Image.BILINEAR)).astype(int)
    indices = gif.render(frame)
    assert (indices != GIF_TRANSPARENT).all()  # that index is kept for unchanged pixels
    shown = gif.palette[indices].astype(int)
    assert shown.shape == whole.shape
    assert np.abs(shown - whole).mean() < 2
    assert np.percentile(np.abs(shown - whole), 99) < 12


def test_gif_writer_round_trip(tmp_path):
    # unchanged pixels are written transparent and left in place: frames decode exactly
    rng = np.random.default_rng(5)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    first = rng.integers(0, 255, (30, 40), dtype=np.uint8)
    second = first.copy()
    second[5:9, 10:30] = rng.integers(0, 255, (4, 20))
    frames = [first, second, second, rng.integers(0, 255, (30, 40), dtype=np.uint8)]
    writer = GifWriter(tmp_path / "t.gif", (40, 30), palette, duration=100.0)
    written = [writer.file.tell()]
    for frame in frames:
        writer.append_data(frame)
        written.append(writer.file.tell())
    writer.close()
    assert all(a < b for a, b in zip(written, written[1:]))  # streamed, frame by frame
    with Image.open(tmp_path / "t.gif") as image:
        assert image.n_frames == len(frames) and image.info["loop"] == 0
        for number, frame in enumerate(frames):
            image.seek(number)
            assert image.info["duration"] == 100
            assert np.array_equal(np.asarray(image.convert("RGB")), palette[frame])
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "t.gif"))  # another decoder
    assert next(reader)["size"] == (40, 30)
    decoded = [np.frombuffer(data, np.uint8).reshape(30, 40, 3) for data in reader]
    assert [np.array_equal(a, palette[f]) for a, f in zip(decoded, frames)] == [True] * 4
    assert len(decoded) == len(frames)


def test_mp4_is_encoded_by_one_x264_thread(movie):
    data = movie[0].read_bytes()
    options = data[data.index(b"x264 - core") :].split(b"\x00")[0].decode().split()
    assert "threads=1" in options and "lookahead_threads=1" in options


def test_run_read_with_h5py_as_with_xarray(run_dir):
    fields = ["vorticity", "b", "u"]
    with billow.open_run(run_dir) as dataset, h5py.File(run_dir / "fields.nc") as file:
        times = range(dataset.sizes["time"])
        by_xarray = colour_scales(dataset, fields, times)
        readers = field_readers(file, fields)
        by_h5py = colour_scales(readers, fields, times)
        assert np.array_equal(readers["b"][3], dataset["b"][3])
        assert readers["b"].shape == (dataset.sizes["z"], dataset.sizes["x"])
        assert readers["b"].n_snapshots == dataset.sizes["time"]
        title = movie_title(_attributes(file), 32, 64)
        assert title == movie_title(dict(dataset.attrs), 32, 64)
    assert [(s.vmin, s.vmax) for s in by_h5py] == [(s.vmin, s.vmax) for s in by_xarray]


def test_field_reader_follows_the_dimension_order(tmp_path):
    data = np.arange(4 * 3 * 2, dtype=float).reshape(4, 3, 2)
    with h5py.File(tmp_path / "f.h5", "w") as file:
        file["c"] = data
        assert np.array_equal(FieldReader(file["c"], ("x", "z", "time"))[1], data[:, :, 1].T)
        assert np.array_equal(FieldReader(file["c"], ("time", "z", "x"))[1], data[1])


def test_frame_shows_title_axes_and_colourbars(run_dir, renderer):
    with billow.open_run(run_dir) as dataset:
        title = movie_title(dict(dataset.attrs), 32, 64)
    assert title.startswith("shear_layer") and "Re = 1000" in title and "Ri = 0.1" in title
    frame = renderer.render([np.zeros((renderer.nz, renderer.nx))] * 2, 0.0)
    background = frame[0, 0]
    boxes = zip(renderer.panel_boxes, renderer.colourbar_boxes, renderer.scales)
    for (y0, y1, x0, x1), (by0, by1, bx0, bx1), scale in boxes:
        # a colourbar right of the panel: the colour map from vmax (top) to vmin
        assert bx0 > x1
        bar = frame[by0:by1, (bx0 + bx1) // 2].astype(int)
        assert np.abs(bar[0] - scale.lut[-1]).max() <= 8
        assert np.abs(bar[-1] - scale.lut[0]).max() <= 8
        assert np.abs(bar[(by1 - by0) // 2] - scale.lut[128]).max() <= 8
        # z ticks and labels at the left
        assert (frame[y0:y1, : x0 - 2] != background).any()
    # x ticks and "x/d" under the last panel
    y1 = renderer.panel_boxes[-1][1]
    assert (frame[y1 + 2 :, renderer.panel_boxes[-1][2] :] != background).any()


def test_time_label_changes_between_frames(movie, renderer):
    frames = read_mp4(movie[0])
    y0, y1, x0, x1 = renderer.time_box
    label = [frame[y0:y1, x0:x1].astype(int) for frame in frames[:2]]
    assert np.abs(label[0] - label[1]).max() > 100  # "t = 0.00" vs "t = 0.50"
    # and the label is exactly the same for the same time (raw frames)
    empty = [np.zeros((renderer.nz, renderer.nx))] * 2
    a, b, c = (renderer.render(empty, t) for t in (0.5, 0.5, 12.5))
    assert np.array_equal(a, b)
    assert not np.array_equal(a[y0:y1, x0:x1], c[y0:y1, x0:x1])
    outside = np.ones(a.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(a[outside], c[outside])  # only the label changed


def test_colour_limits_are_fixed(renderer):
    vorticity, b = renderer.scales
    assert vorticity.vmax > 0 and vorticity.vmin == -vorticity.vmax  # symmetric
    assert b.vmin < b.vmax
    shape = (renderer.nz, renderer.nx)
    frame = renderer.render([np.full(shape, vorticity.vmax), np.full(shape, b.vmin)], 1.0)
    for (y0, y1, x0, x1), colour in zip(renderer.panel_boxes, [vorticity.lut[-1], b.lut[0]]):
        assert (frame[y0:y1, x0:x1] == colour).all()
    # beyond the limits saturates; the limits do not adapt to the data
    assert (vorticity.apply(np.full(shape, 10 * vorticity.vmax)) == vorticity.lut[-1]).all()
    assert (vorticity.apply(np.full(shape, -10 * vorticity.vmax)) == vorticity.lut[0]).all()
    assert (vorticity.apply(np.zeros(shape)) == vorticity.lut[128]).all()


def test_z_increases_upwards(renderer):
    scale = renderer.scales[1]
    z_up = np.linspace(scale.vmin, scale.vmax, renderer.nz)[:, None] * np.ones(renderer.nx)
    frame = renderer.render([np.zeros_like(z_up), z_up], 0.0)
    y0, y1, x0, x1 = renderer.panel_boxes[1]
    assert (frame[y0, x0:x1] == scale.lut[-1]).all()  # top row: largest z
    assert (frame[y1 - 1, x0:x1] == scale.lut[0]).all()


def test_lut_index_bins():
    scale = ColourScale.from_cmocean("balance", -1.0, 1.0)
    assert scale.lut.shape == (256, 3) and scale.lut.dtype == np.uint8
    index = scale.index(np.array([-1.0, -0.999, 0.0, 0.999, 1.0, np.nan]))
    assert index.tolist() == [0, 0, 128, 255, 255, 0]


STYLES = (*movie_module._STYLES.values(), movie_module._DEFAULT_STYLE)
COLOUR_MAPS = sorted({cmap for cmap, _ in STYLES})


@pytest.mark.parametrize("name", COLOUR_MAPS)
def test_colour_tables_are_cmoceans_colour_maps(name, monkeypatch):
    # read from cmocean's data file, and, where it has none, from its colormap: both are
    # cmocean's 256 colours
    expected = np.rint(getattr(import_cmocean().cm, name)(np.linspace(0, 1, 256))[:, :3] * 255)
    assert movie_module._cmocean_colours(name) is not None
    assert np.array_equal(movie_module.colour_table(name), expected.astype(np.uint8))
    monkeypatch.setattr(movie_module, "_cmocean_colours", lambda name: None)
    assert np.array_equal(movie_module.colour_table(name), expected.astype(np.uint8))


def test_a_movie_imports_neither_matplotlib_nor_cmocean(run_dir, tmp_path):
    # their imports were 1 s of the command's start-up; the colours and the font are read
    # from their files
    code = (
        "import sys; from billow.viz.movie import render_movie; "
        f"render_movie({str(run_dir)!r}, out={str(tmp_path)!r}, formats=['mp4'], "
        "min_duration=0); print(' '.join(m for m in ('matplotlib', 'cmocean') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == [] and (tmp_path / "movie.mp4").is_file()


def test_out_dir_single_format_and_max_frames(run_dir, tmp_path):
    paths = render_movie(run_dir, fields=["u"], out=tmp_path / "m", formats=["gif"], max_frames=4)
    assert paths == [tmp_path / "m" / "movie.gif"]
    # stride 3 over 9 snapshots: 3 frames; the GIF keeps every other one and the last
    assert len(imageio.mimread(paths[0])) == 2


def test_missing_field_is_a_billow_error(run_dir, tmp_path):
    with pytest.raises(BillowError, match="field nope not in .*available: .*vorticity"):
        render_movie(run_dir, fields=("vorticity", "nope"), out=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written


def test_missing_fields_nc_is_a_billow_error(tmp_path):
    with pytest.raises(BillowError, match="no fields.nc") as info:
        render_movie(tmp_path)
    assert "\n" not in str(info.value)


def test_unknown_format_is_a_billow_error(run_dir, tmp_path):
    with pytest.raises(BillowError, match="unknown movie format avi"):
        render_movie(run_dir, formats=("avi",), out=tmp_path)


def test_movie_command_writes_both_movies(run_dir, tmp_path):
    from typer.testing import CliRunner

    from billow.cli import app

    result = CliRunner().invoke(app, ["movie", str(run_dir), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert len(read_mp4(tmp_path / "movie.mp4")) == N_FRAMES
    assert (tmp_path / "movie.gif").stat().st_size > 0


def test_movie_command_missing_run_is_one_line_error(tmp_path):
    from typer.testing import CliRunner

    from billow.cli import app

    result = CliRunner().invoke(app, ["movie", str(tmp_path / "nothing")])
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("billow: error:")
