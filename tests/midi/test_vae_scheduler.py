"""VAE and scheduler parity with the original (golden/vae, golden/scheduler)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import maxdiff
from tolerance import reorder_atol, rms
from scenewright.methods.midi.scheduler import RectifiedFlowScheduler
from scenewright.methods.midi.vae import embed_points, farthest_point_sampling
from scenewright.methods.midi.weights import load_scheduler, load_vae

G = "vae"


@pytest.fixture(scope="module")
def vae(tiny):
    return load_vae(tiny)


def test_encode_matches_original(vae, golden, atol):
    g = golden(G)
    with torch.no_grad():
        r = vae.encode(g["surface"], num_tokens=32, seed=0)
    assert np.array_equal(r.subset_indices, g["subset_indices"].numpy())
    assert torch.equal(r.fps_indices, g["fps_indices"])
    assert maxdiff(r.sampled_surface, g["sampled_surface"]) == 0
    x_q = torch.cat([vae.embed(r.sampled_surface[..., :3]), r.sampled_surface[..., 3:]], -1)
    assert maxdiff(x_q, g["x_q"]) <= atol(G, "x_q")
    for name, value in [("encoder_out", r.encoder_out), ("moments", r.moments),
                        ("posterior_mean", r.posterior.mean), ("posterior_logvar", r.posterior.logvar),
                        ("posterior_std", r.posterior.std)]:
        assert maxdiff(value, g[name]) <= atol(G, name), name


def test_decode_matches_original(vae, golden, atol):
    g = golden(G)
    with torch.no_grad():
        assert maxdiff(vae.post_quant(g["decode_latents"]), g["decode_post_quant_out"]) <= atol(G, "decode_post_quant_out")
        kv = vae.kv_cache(g["decode_latents"])
        assert maxdiff(kv, g["decode_kv_cache"]) <= atol(G, "decode_kv_cache")
        one_pass = vae.decode(g["decode_latents"], g["decode_points"])
        assert maxdiff(one_pass, g["decode_sdf"]) <= atol(G, "decode_sdf")
        assert maxdiff(vae.decode(g["posterior_mean"], g["decode_points"]),
                       g["decode_sdf_from_posterior_mean"]) <= atol(G, "decode_sdf_from_posterior_mean")
        # Chunked queries with a reused KV cache give the same field as one pass.
        chunked = vae.query(kv, g["decode_points"], chunk=7)
    # Other batch shapes sum in other orders: the decoder's 4·width-long reductions, chained
    # through its layers plus the query and output projections.
    cfg = vae.config
    tol = reorder_atol(rms(one_pass), 4 * cfg.width_decoder, cfg.num_layers_decoder + 2)
    assert maxdiff(chunked, one_pass) <= tol
    fn = vae.query_fn(g["decode_latents"][1])
    assert maxdiff(fn(g["decode_points"][1].numpy()), one_pass[1, :, 0]) <= tol
    assert maxdiff(chunked, g["decode_sdf"]) <= atol(G, "decode_sdf")


def test_fps_against_brute_force():
    gen = torch.Generator().manual_seed(3)
    pts = torch.randn(2, 50, 3, generator=gen)
    pts[0, 7] = pts[0, 3]                     # a duplicate: ties take the first index
    idx = farthest_point_sampling(pts, 12)
    for b in range(2):
        chosen = [0]
        for _ in range(11):
            d = torch.cdist(pts[b], pts[b, chosen]).pow(2).min(1).values
            chosen.append(int(torch.argmax(d)))
        assert idx[b].tolist() == chosen
    with pytest.raises(ValueError):
        farthest_point_sampling(pts, 51)


def test_point_embedding_layout():
    x = torch.tensor([[0.5, -0.25, 1.0]])
    e = embed_points(x, 8)
    assert e.shape == (1, 51)
    assert torch.allclose(e[0, :3], x[0])
    assert torch.isclose(e[0, 3 + 1], torch.sin(torch.tensor(0.5 * 2)))          # sin(x·2^1)
    assert torch.isclose(e[0, 3 + 8 + 2], torch.sin(torch.tensor(-0.25 * 4)))    # sin(y·2^2)
    assert torch.isclose(e[0, 27 + 16], torch.cos(torch.tensor(1.0)))            # cos(z·2^0)


@pytest.mark.parametrize("shift", [1, 3])
def test_scheduler_matches_original(tiny, golden, atol, shift):
    g = golden("scheduler")
    sched = load_scheduler(tiny)
    if shift != 1:
        sched = RectifiedFlowScheduler.from_config(sched.config, shift=float(shift))
    sched.set_timesteps(5)
    assert maxdiff(sched.timesteps, g[f"timesteps_shift{shift}"]) <= atol("scheduler", f"timesteps_shift{shift}")
    assert maxdiff(sched.sigmas, g[f"sigmas_shift{shift}"]) <= atol("scheduler", f"sigmas_shift{shift}")
    x, xs = g["euler_sample0"], [g["euler_sample0"]]
    for i, t in enumerate(sched.timesteps):
        x = sched.step(g["euler_velocities"][i], t, x)
        xs.append(x)
    assert maxdiff(torch.stack(xs), g[f"euler_samples_shift{shift}"]) <= atol("scheduler", f"euler_samples_shift{shift}")


def test_scheduler_three_steps(tiny, golden):
    g = golden("scheduler")
    sched = load_scheduler(tiny)
    sched.set_timesteps(3)
    assert maxdiff(sched.timesteps, g["timesteps_3steps"]) <= 1e-4
    assert maxdiff(sched.sigmas, g["sigmas_3steps"]) <= 1e-6
    with pytest.raises(ValueError):
        sched.set_timesteps(0)
