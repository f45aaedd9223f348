"""Grid decoding and meshing (scenewright.methods.midi.extract).

Analytic fields check dense vs hierarchical extraction (occupancy, exact values where
refined, identical meshes, far fewer queries); the midi-tiny goldens check the dense
pass, the progressive box, smoothing and the R7 vertex mapping against the original.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import measure

from scenewright.errors import InputError
from scenewright.methods.midi import extract as ex
from tolerance import EPS32, SAFETY, marching_cubes_shift, reorder_atol, rms

LO, HI = ex.DEFAULT_BBOX_MIN, ex.DEFAULT_BBOX_MAX
DEPTH = 7                      # 129³: dense is 2.1 M queries, cheap for analytic fields
AXIS = np.linspace(-1.005, 1.005, 2**DEPTH + 1, dtype=np.float32)
H = float(AXIS[1] - AXIS[0])   # fine grid spacing (0.0157)


# ----------------------------------------------------------------- analytic fields
# Each takes points (M, 3) float32 and returns (M,) with <= 0 inside. Thin parts are placed
# between the coarse lattice planes (stride 8) so only the margin can find them.

def sphere(p):
    return p.norm(dim=1) - 0.55


def box(p):
    q = (p - torch.tensor([0.1, -0.05, 0.2])).abs() - torch.tensor([0.5, 0.3, 0.2])
    return q.clamp(min=0).norm(dim=1) + q.max(dim=1).values.clamp(max=0)


def torus(p):
    ring = torch.stack([p[:, [0, 1]].norm(dim=1) - 0.6, p[:, 2]], dim=1)
    return ring.norm(dim=1) - 0.15


def thin_plate(p):
    # 0.6 fine cells thick, centred between coarse planes: the coarse lattice sees no inside point.
    z0 = float(AXIS[67])
    return (p[:, 2] - z0).abs() - 0.3 * H


def two_blobs(p):
    a = (p - torch.tensor([-0.5, 0.1, 0.0])).norm(dim=1) - 0.2
    b = (p - torch.tensor([0.45, -0.3, 0.33])).norm(dim=1) - 0.07
    return torch.minimum(a, b)


def ball_on_rod(p):
    # A ball held by a rod 0.7 fine cells in diameter whose axis lies off every lattice line.
    y0, z0 = float(AXIS[61]) + 0.4 * H, float(AXIS[69]) + 0.3 * H
    rod_r = torch.stack([p[:, 1] - y0, p[:, 2] - z0], dim=1).norm(dim=1) - 0.35 * H
    rod = torch.maximum(rod_r, p[:, 0].abs() - 0.8)
    ball = (p - torch.tensor([0.8, y0, z0])).norm(dim=1) - 0.15
    return torch.minimum(rod, ball)


def steep_torus(p):
    # Not a distance: gradient ~ 25 near the surface and varying across the box.
    return 25.0 * torus(p) * (1.0 + p[:, 0] ** 2)


def flat_box(p):
    # Not a distance: gradient ~ 0.02, so fixed absolute margins would be far too large.
    return 0.02 * box(p) * (1.2 + p[:, 1])


SHAPES = [sphere, box, torus, thin_plate, two_blobs, ball_on_rod, steep_torus, flat_box]


@pytest.fixture(scope="module")
def dense_grids():
    return {f.__name__: ex.decode_grid(f, LO, HI, DEPTH) for f in SHAPES}


@pytest.mark.parametrize("field", SHAPES, ids=lambda f: f.__name__)
def test_hierarchical_matches_dense_on_analytic_fields(field, dense_grids):
    dense = dense_grids[field.__name__]
    hier = ex.decode_grid(field, LO, HI, DEPTH, method="hierarchical")
    assert dense.n_queries == (2**DEPTH + 1) ** 3
    assert (dense.values <= 0).any(), "the dense grid must see the shape for the test to mean anything"

    # Occupancy: the criterion is IoU >= 0.99; in practice nothing differs.
    assert ex.occupancy_iou(dense.values, hier.values) >= 0.99
    assert np.count_nonzero((dense.values <= 0) != (hier.values <= 0)) == 0
    # Refined points carry the queried values, bit for bit.
    assert hier.exact is not None and hier.exact.any()
    assert np.array_equal(hier.values[hier.exact], dense.values[hier.exact])
    # Every grid cell that holds surface in the dense field has all 8 corners queried.
    crossing = ex._cell_reduce(dense.values, np.minimum) <= 0
    crossing &= ex._cell_reduce(dense.values, np.maximum) > 0
    corners_exact = ex._cell_reduce(hier.exact, np.logical_and)
    assert corners_exact[crossing].all()
    # Hence marching cubes gives the very same mesh.
    m_dense = ex.grid_to_mesh(dense.values, LO, HI, DEPTH)
    m_hier = ex.grid_to_mesh(hier.values, LO, HI, DEPTH)
    assert len(m_dense.faces) > 0
    assert np.array_equal(m_dense.vertices, m_hier.vertices)
    assert np.array_equal(m_dense.faces, m_hier.faces)
    # The band is wide enough for the 3×3×3 smoothing too: smoothed meshes also agree.
    s_dense = ex.grid_to_mesh(ex.smooth_grid(dense.values), LO, HI, DEPTH)
    s_hier = ex.grid_to_mesh(ex.smooth_grid(hier.values), LO, HI, DEPTH)
    assert np.array_equal(s_dense.faces, s_hier.faces)
    np.testing.assert_allclose(s_dense.vertices, s_hier.vertices, atol=1e-6)
    # Far fewer queries (the ratio grows ×2 per depth level; ≥ 8× at depth 8).
    assert hier.n_queries * 3 < dense.n_queries, (hier.n_queries, dense.n_queries)
    assert sum(s["queried"] for s in hier.level_stats) == hier.n_queries


def test_hierarchical_query_savings_at_depth_8():
    """The full-size grid of the original (257³): a sphere needs < 1/8 of the queries."""
    hier = ex.decode_grid(sphere, LO, HI, 8, method="hierarchical")
    assert hier.n_queries * 8 < 257**3
    assert hier.values.shape == (257, 257, 257) and hier.values.dtype == np.float32


@pytest.mark.parametrize("settings", [ex.HierarchicalSettings(lipschitz="global"),
                                      ex.HierarchicalSettings(levels=5, dilate_final=True),
                                      ex.HierarchicalSettings(levels=1)], ids=["global", "deep", "shallow"])
def test_setting_variants_keep_occupancy(settings, dense_grids):
    dense = dense_grids["ball_on_rod"]
    hier = ex.decode_grid(ball_on_rod, LO, HI, DEPTH, method="hierarchical", hierarchical=settings)
    assert np.count_nonzero((dense.values <= 0) != (hier.values <= 0)) == 0
    assert hier.n_queries < dense.n_queries
    assert hier.settings["lipschitz"] == settings.lipschitz and hier.settings["levels"] == settings.levels


def test_interpolated_points_keep_the_coarse_sign():
    """Points that were not queried lie in cells whose corners share one sign."""
    hier = ex.decode_grid(two_blobs, LO, HI, DEPTH, method="hierarchical")
    pts = ex.grid_points(hier.axes)
    truth = two_blobs(torch.from_numpy(pts)).numpy().reshape(hier.values.shape)
    filled = ~hier.exact
    assert filled.sum() > 0.5 * filled.size
    assert np.array_equal(hier.values[filled] <= 0, truth[filled] <= 0)


def test_without_margin_thin_parts_are_lost():
    """The margin is what finds a plate between coarse planes: with none, it vanishes."""
    no_margin = ex.HierarchicalSettings(margin_scale=0.0, dilate=0)
    lost = ex.decode_grid(thin_plate, LO, HI, DEPTH, method="hierarchical", hierarchical=no_margin)
    kept = ex.decode_grid(thin_plate, LO, HI, DEPTH, method="hierarchical")
    assert not (lost.values <= 0).any()
    assert (kept.values <= 0).any()


def test_dense_grid_layout_is_ij_with_x_slowest():
    def affine(p):
        return p[:, 0] + 10 * p[:, 1] + 100 * p[:, 2]
    res = ex.decode_grid(affine, [-1, -0.5, 0], [1, 0.5, 2], 3, chunk=37)
    ax, ay, az = res.axes
    expect = ax[:, None, None] + 10 * ay[None, :, None] + 100 * az[None, None, :]
    np.testing.assert_allclose(res.values, expect, atol=1e-4)
    assert res.n_queries == 9**3
    assert np.array_equal(ax, np.linspace(-1, 1, 9, dtype=np.float32))
    assert np.array_equal(ex.grid_points(res.axes)[1], [ax[0], ay[0], az[1]])


def test_progress_reports_and_rich_progress():
    seen = []
    ex.decode_grid(sphere, LO, HI, 4, chunk=1000, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (17**3, 17**3) and len(seen) == 5
    from rich.progress import Progress
    with Progress(disable=True) as prog:
        ex.decode_grid(sphere, LO, HI, 4, method="hierarchical", progress=prog)
        assert prog.tasks[0].completed > 0


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError, match="method"):
        ex.decode_grid(sphere, LO, HI, 4, method="octree")
    with pytest.raises(InputError, match="depth"):
        ex.decode_grid(sphere, LO, HI, 0)
    with pytest.raises(InputError, match="box"):
        ex.decode_grid(sphere, HI, LO, 4)
    with pytest.raises(InputError, match="shape"):
        ex.decode_grid(lambda p: torch.zeros(len(p), 2), LO, HI, 3)
    with pytest.raises(InputError, match="non-finite"):
        ex.decode_grid(lambda p: torch.full((len(p),), float("nan")), LO, HI, 3)
    with pytest.raises(InputError, match="does not match"):
        ex.grid_to_mesh(np.zeros((9, 9, 9)), LO, HI, 4)
    with pytest.raises(InputError, match="non-finite"):
        ex.grid_to_mesh(np.full((9, 9, 9), np.nan), LO, HI, 3)
    with pytest.raises(InputError):
        ex.HierarchicalSettings(levels=-1)
    with pytest.raises(InputError, match="lipschitz"):
        ex.HierarchicalSettings(lipschitz="median")


def test_field_without_surface_gives_an_empty_mesh():
    for const in (1.0, -1.0):
        mesh = ex.grid_to_mesh(np.full((9, 9, 9), const, np.float32), LO, HI, 3)
        assert len(mesh.vertices) == 0 and len(mesh.faces) == 0


def test_progressive_bbox_fallback_and_padding():
    axes = ex.grid_axes(LO, HI, 3)
    outside = np.ones((9, 9, 9), np.float32)
    lo, hi = ex.progressive_bbox(outside, axes)
    assert np.array_equal(lo, LO) and np.array_equal(hi, HI)
    prev = (np.float32([-0.3, -0.2, -0.1]), np.float32([0.1, 0.2, 0.3]))
    lo, hi = ex.progressive_bbox(outside, axes, fallback=prev)
    assert lo is not None and np.array_equal(lo, prev[0]) and np.array_equal(hi, prev[1])
    # One inside point at a corner: the box reaches past [-1.005, 1.005] (not clamped).
    one = outside.copy()
    one[0, 8, 4] = 0.0          # 0 counts as inside
    lo, hi = ex.progressive_bbox(one, axes)
    assert lo.dtype == np.float32
    assert np.array_equal(lo, np.float32([axes[0][0], axes[1][8], axes[2][4]]) - np.float32(0.05))
    assert np.array_equal(hi, np.float32([axes[0][0], axes[1][8], axes[2][4]]) + np.float32(0.05))
    assert lo[0] < -1.05


def test_smooth_grid_is_the_original_zero_padded_box_filter():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(9, 9, 9)).astype(np.float32)
    ref = F.conv3d(torch.from_numpy(v)[None, None], torch.ones(1, 1, 3, 3, 3) / 27, padding=1)[0, 0].numpy()
    out = ex.smooth_grid(v)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    assert out.dtype == np.float32 and out.shape == v.shape
    # Interior: plain mean of 27; corner: 8 in-box values divided by 27 (zero padding).
    assert out[4, 4, 4] == pytest.approx(v[3:6, 3:6, 3:6].mean(), abs=1e-6)
    assert out[0, 0, 0] == pytest.approx(v[:2, :2, :2].sum() / 27, abs=1e-6)
    rep = ex.smooth_grid(v, padding="replicate")
    assert rep[4, 4, 4] == pytest.approx(out[4, 4, 4], abs=1e-6)
    const = ex.smooth_grid(np.full((5, 5, 5), 2.0, np.float32), padding="replicate")
    np.testing.assert_allclose(const, 2.0, atol=1e-6)
    with pytest.raises(InputError):
        ex.smooth_grid(v, padding="reflect")


# ----------------------------------------------------------------- midi-tiny goldens


@pytest.fixture(scope="module")
def e2e(tiny):
    from safetensors.torch import load_file
    return {k: v.numpy() for k, v in load_file(str(tiny / "golden" / "e2e.safetensors")).items()}


@pytest.fixture(scope="module")
def vae(tiny):
    from safetensors.torch import load_file
    from scenewright.methods.midi.vae import MIDIVAE, MIDIVAEConfig
    model = MIDIVAE(MIDIVAEConfig.from_dict(json.loads((tiny / "vae" / "config.json").read_text())))
    model.load_state_dict(load_file(str(tiny / "vae" / "diffusion_pytorch_model.safetensors")))
    return model.eval()


def test_stored_grids_give_the_stored_boxes(e2e):
    axis = e2e["grid_axis"]
    assert np.array_equal(ex.grid_axes(LO, HI, 5)[0], axis)
    for i in range(3):
        lo, hi = ex.progressive_bbox(e2e["sdf_grid"][i], (axis, axis, axis))
        np.testing.assert_allclose(lo, e2e["progressive_bbox_min"][i], atol=1e-6, rtol=0)
        np.testing.assert_allclose(hi, e2e["progressive_bbox_max"][i], atol=1e-6, rtol=0)


def test_r7_mapping_on_the_stored_progressive_grids(e2e):
    """The e2e reference meshes: marching cubes on ``progressive_sdf_grid`` + R7 (÷33, not ÷32)."""
    for i in range(3):
        grid = e2e["progressive_sdf_grid"][i]
        lo, hi = e2e["progressive_bbox_min"][i], e2e["progressive_bbox_max"][i]
        mesh = ex.grid_to_mesh(grid, lo, hi, 5)
        again = ex.grid_to_mesh(grid.copy(), lo.copy(), hi.copy(), 5)
        assert np.array_equal(mesh.vertices, again.vertices) and np.array_equal(mesh.faces, again.faces)
        verts, faces, _, _ = measure.marching_cubes(grid, 0.0, method="lewiner")
        assert len(mesh.faces) == len(faces) > 100
        expect = (verts.astype(np.float64) / 33 * (hi - lo).astype(np.float64) + lo).astype(np.float32)
        np.testing.assert_allclose(np.sort(mesh.vertices, axis=0), np.sort(expect, axis=0), atol=1e-6)
        # ÷33 leaves a gap of one 33rd of a cell span at the max side of the box.
        span = (hi - lo) * 32 / 33
        assert np.all(mesh.vertices.min(axis=0) >= lo - 1e-6)
        assert np.all(mesh.vertices.max(axis=0) <= lo + span + 1e-6)


def test_dense_decode_reproduces_the_golden_grids(vae, e2e):
    for i in range(3):
        query = vae.query_fn(torch.from_numpy(e2e["latents_final"][i]))
        first = ex.decode_grid(query, LO, HI, 5)
        np.testing.assert_allclose(first.values, e2e["sdf_grid"][i], atol=1e-4, rtol=0)
        lo, hi = ex.progressive_bbox(first.values, first.axes)
        np.testing.assert_allclose(lo, e2e["progressive_bbox_min"][i], atol=1e-6, rtol=0)
        np.testing.assert_allclose(hi, e2e["progressive_bbox_max"][i], atol=1e-6, rtol=0)
        second = ex.decode_grid(query, lo, hi, 5)
        np.testing.assert_allclose(second.values, e2e["progressive_sdf_grid"][i], atol=1e-4, rtol=0)
        # Our mesh of our grid is the reference mesh of the stored grid.
        ours = ex.grid_to_mesh(second.values, lo, hi, 5)
        ref = ex.grid_to_mesh(e2e["progressive_sdf_grid"][i], e2e["progressive_bbox_min"][i],
                              e2e["progressive_bbox_max"][i], 5)
        assert np.array_equal(ours.faces, ref.faces)
        np.testing.assert_allclose(ours.vertices, ref.vertices, atol=1e-4)


def decoder_value_tol(values: np.ndarray, vae) -> float:
    """Round-off between two float32 runs of the tiny decoder on different batches (dense vs
    hierarchical queries go through other matmul shapes, hence other summation orders): its
    longest reduction is the 4·width MLP, and the query passes proj_query, the decoder layers
    and the output projection in sequence; activations are of the field's size."""
    cfg = vae.config
    return reorder_atol(rms(values), 4 * cfg.width_decoder, cfg.num_layers_decoder + 2)


def assert_meshes_match(dense_values, hier_values, value_tol, lo, hi, depth):
    """Equal faces, and every vertex within what ``value_tol`` on the grid values allows
    (tolerance.marching_cubes_shift: a value near 0 on a flat edge moves its vertex far),
    plus float32 rounding of the mapped coordinates.

    A grid value within ``value_tol`` of the level has no sign that round-off can fix (one
    CPU's smoothed dense grid held an exact 0.0 where the hierarchical one held -1.5e-8, with
    a tolerance of 5e-6): such a cell may be inside in one grid and outside in the other, and
    an exact 0 puts a vertex on a grid node, which trimesh merges with its neighbours. Cells
    whose signs differ must be such cells; every cell within ``value_tol`` of the level in
    either grid then takes one common value, 2·value_tol off the level on the side of the
    grids' mean, in both grids, and the meshes must agree everywhere.
    """
    flipped = np.signbit(dense_values) != np.signbit(hier_values)
    assert np.all(np.abs(dense_values[flipped]) <= value_tol)
    assert np.all(np.abs(hier_values[flipped]) <= value_tol)
    ambiguous = np.minimum(np.abs(dense_values), np.abs(hier_values)) <= value_tol
    common = np.where(dense_values + hier_values < 0, -2 * value_tol, 2 * value_tol).astype(dense_values.dtype)
    dense_values = np.where(ambiguous, common, dense_values)
    hier_values = np.where(ambiguous, common, hier_values)
    m_dense = ex.grid_to_mesh(dense_values, lo, hi, depth)
    m_hier = ex.grid_to_mesh(hier_values, lo, hi, depth)
    assert np.array_equal(m_dense.faces, m_hier.faces)
    spacing = (np.asarray(hi, np.float64) - lo) / ex.grid_resolution(depth)
    bound = marching_cubes_shift(dense_values, hier_values, value_tol, spacing)
    # skimage interpolates in float32 on indices up to 2^depth, then the world coordinates are
    # rounded to float32: a few ulps of the index and of the coordinate.
    rounding = SAFETY * EPS32 * (2**depth * spacing + np.abs(m_dense.vertices))
    excess = np.abs(m_dense.vertices - m_hier.vertices) - (bound + rounding)
    assert excess.max() <= 0, (excess.max(), np.unravel_index(excess.argmax(), excess.shape))


@pytest.mark.parametrize("depth,instances", [(5, (0, 1, 2)), (6, (0, 1, 2)), (7, (2,))])
def test_hierarchical_matches_dense_on_the_tiny_decoder(vae, e2e, depth, instances):
    for i in instances:
        query = vae.query_fn(torch.from_numpy(e2e["latents_final"][i]))
        # The second-pass box: anisotropic, reaching past ±1.005, surface close to its faces.
        lo, hi = e2e["progressive_bbox_min"][i], e2e["progressive_bbox_max"][i]
        dense = ex.decode_grid(query, lo, hi, depth)
        hier = ex.decode_grid(query, lo, hi, depth, method="hierarchical")
        assert ex.occupancy_iou(dense.values, hier.values) >= 0.99
        # Batch composition differs between the two runs: float32 round-off of the decoder.
        tol = decoder_value_tol(dense.values, vae)
        np.testing.assert_allclose(hier.values[hier.exact], dense.values[hier.exact], atol=tol, rtol=0)
        if depth >= 6:
            assert hier.n_queries < dense.n_queries
        if depth == 7:
            assert hier.n_queries * 3 < dense.n_queries
            assert_meshes_match(dense.values, hier.values, tol, lo, hi, depth)
            # The 3×3×3 mean of values each within tol (27-term sums in either order).
            smooth_tol = tol + reorder_atol(rms(dense.values), 27)
            s_dense, s_hier = ex.smooth_grid(dense.values), ex.smooth_grid(hier.values)
            assert_meshes_match(s_dense, s_hier, smooth_tol, lo, hi, depth)


def test_high_frequency_decoder_falls_back_to_near_dense(tiny, e2e):
    """Undo the fixture's 0.5^k damping of the frequency columns: the field turns busy,
    the Lipschitz margin grows with it, nearly everything is refined and no sign is lost."""
    from safetensors.torch import load_file
    from scenewright.methods.midi.vae import MIDIVAE, MIDIVAEConfig
    model = MIDIVAE(MIDIVAEConfig.from_dict(json.loads((tiny / "vae" / "config.json").read_text())))
    model.load_state_dict(load_file(str(tiny / "vae" / "diffusion_pytorch_model.safetensors")))
    freqs = model.config.embed_frequency
    with torch.no_grad():
        w = model.decoder.proj_query.weight          # columns: xyz, sin (x f0..7, y.., z..), cos (...)
        for c in range(3):
            for k in range(freqs):
                for base in (3, 3 + 3 * freqs):
                    w[:, base + c * freqs + k] *= 2.0**k
    query = model.eval().query_fn(torch.from_numpy(e2e["latents_final"][0]))
    dense = ex.decode_grid(query, LO, HI, 6)
    hier = ex.decode_grid(query, LO, HI, 6, method="hierarchical")
    assert 0.05 < np.mean(dense.values <= 0) < 0.95
    assert np.count_nonzero((dense.values <= 0) != (hier.values <= 0)) == 0
    assert hier.n_queries > 0.8 * dense.n_queries


def test_hierarchical_first_pass_gives_the_golden_boxes(vae, e2e):
    """The pipeline may run both passes hierarchically: the box only needs occupancy."""
    for i in range(3):
        query = vae.query_fn(torch.from_numpy(e2e["latents_final"][i]))
        first = ex.decode_grid(query, torch.tensor(LO), torch.tensor(HI), 5, method="hierarchical")
        lo, hi = ex.progressive_bbox(torch.from_numpy(first.values), first.axes)
        np.testing.assert_allclose(lo, e2e["progressive_bbox_min"][i], atol=1e-6, rtol=0)
        np.testing.assert_allclose(hi, e2e["progressive_bbox_max"][i], atol=1e-6, rtol=0)
        assert first.n_queries < 33**3
