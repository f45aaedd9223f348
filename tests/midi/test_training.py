"""MIDI fine-tuning on the midi-tiny checkpoint and a 4-scene benchmark made by ``bench make``.

Real components throughout: a real Sweet Home 3D library, generated bench scenes, the
tiny checkpoint loaded through the user's path, peft, accelerate, the inference pipeline.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tolerance import EPS32, reorder_atol, rms

FURNITURE = Path("/usr/share/sweethome3d/furniture")
CATALOG = "BlendSwap-CC-0"
ASSETS = ["BlendSwap-CC-0/couch2", "BlendSwap-CC-0/glassDoorCabinet", "BlendSwap-CC-0/bedsideTable2",
          "BlendSwap-CC-0/oakTable", "BlendSwap-CC-0/chair2", "BlendSwap-CC-0/desklamp",
          "BlendSwap-CC-0/littlePlant", "BlendSwap-CC-0/desk"]
NUM_POINTS = 512      # surface samples per instance: the tiny VAE's subset needs 4·32 = 128


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    if not (FURNITURE / f"{CATALOG}.sh3f").is_file():
        pytest.skip("Sweet Home 3D catalogs not installed")
    from scenewright.bench.generate import BenchSettings, make_bench
    from scenewright.library import BuildSettings, build_library
    root = tmp_path_factory.mktemp("trainbench")
    build_library(root / "library", [FURNITURE / f"{CATALOG}.sh3f"], workers=1, only=ASSETS, progress=False,
                  settings=BuildSettings(n_samples=256, voxel_grid=8, views=False))
    make_bench(root / "bench", root / "library", BenchSettings(scenes=4, seed=0, size=96, objects=(2, 4)),
               progress=False)
    return root / "bench"


@pytest.fixture(scope="module")
def cache(bench, tiny, tmp_path_factory):
    from scenewright.methods.midi.train.data import DataSettings, SceneCache, build_cache
    folder = tmp_path_factory.mktemp("cache")
    meta = build_cache(bench, tiny, folder, DataSettings(num_points=NUM_POINTS), progress=False)
    return folder, meta, SceneCache(folder, meta)


def _settings(**kw):
    from scenewright.methods.midi.train.data import DataSettings
    from scenewright.methods.midi.train.trainer import TrainSettings
    base = dict(lora_rank=8, lora_alpha=8.0, checkpoint_every=1000, data=DataSettings(num_points=NUM_POINTS))
    base.update(kw)
    return TrainSettings(**base)


@pytest.fixture(scope="module")
def full_run(bench, tiny, cache, tmp_path_factory):
    """Full fine-tuning, 30 steps at lr 1e-3 (the default 5e-5 barely moves a random tiny
    model in a few dozen steps; the schedule is otherwise the original's)."""
    from scenewright.methods.midi.train.trainer import train
    out = tmp_path_factory.mktemp("full") / "run"
    r = train(bench, tiny, out, _settings(steps=30, lr=1e-3, lora=False), cache=cache[0], progress=False,
              evaluate=True)
    return out, r


# -- data ----------------------------------------------------------------------------------
def test_cache_holds_gt_surfaces_in_the_normalised_frame(bench, cache):
    from scenewright.methods.midi.train.data import DataSettings, scene_instances
    folder, meta, data = cache
    assert [s["name"] for s in meta["scenes"]] == json.loads((bench / "manifest.json").read_text())["scenes"]
    for i in range(len(data)):
        s = data[i]
        _, ids, meshes = scene_instances(bench, s.name, DataSettings())
        assert s.ids == ids and s.surface.shape == (len(ids), NUM_POINTS, 6)
        frame = s.frame
        scale = np.cbrt(np.linalg.det(frame[:3, :3]))
        # A similarity that keeps the world's axes (Y up): a positive multiple of I.
        assert np.allclose(frame[:3, :3], scale * np.eye(3), atol=1e-12) and scale > 0
        pts = s.surface[..., :3].double().numpy()
        lo, hi = pts.reshape(-1, 3).min(0), pts.reshape(-1, 3).max(0)
        # Centred, largest half-extent 0.95 (samples reach the box up to sampling density).
        assert np.all(np.abs(pts) <= 0.95 + 1e-5)
        assert 0.85 < np.max(hi - lo) / 2 <= 0.95 + 1e-5
        # Every sample lies on its own transformed ground-truth mesh, with that face's normal.
        for k, m in enumerate(meshes):
            mm = m.copy().apply_transform(frame)
            q = pts[k, :64]
            closest, dist, tri = mm.nearest.on_surface(q)
            assert dist.max() < 1e-5 * max(1.0, float(np.abs(mm.bounds).max()))
            n = s.surface[k, :64, 3:].double().numpy()
            assert np.allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)


def test_cache_conditions_exactly_as_inference(bench, cache, pipe):
    """The cached pixel values and embeddings are what the inference pipeline computes for
    the scene's capture (same preprocessing code, same encoders)."""
    from scenewright.capture import load_capture
    from scenewright.methods.midi.preprocess import clip_pixel_values, dinov2_pixel_values
    checked = 0
    for i in range(len(cache[2])):
        s = cache[2][i]
        cap = load_capture(bench / s.name / "capture")
        if cap.instance_ids != s.ids:          # a tiny instance was left out of training
            continue
        inputs = pipe._inputs(cap, False)
        assert torch.equal(s.pixel_values_1, clip_pixel_values(pipe.c.feature_extractor_1, inputs))
        assert torch.equal(s.pixel_values_2, dinov2_pixel_values(pipe.c.feature_extractor_2, inputs))
        e1, e2 = pipe.encode_images(inputs)
        assert torch.equal(s.embeds_1, e1) and torch.equal(s.embeds_2, e2)
        checked += 1
    assert checked >= 2


def test_cache_is_reused_and_rebuilt_when_settings_change(bench, tiny, cache):
    from scenewright.methods.midi.train.data import DataSettings, build_cache
    folder, meta, _ = cache
    stamp = (folder / "meta.json").stat().st_mtime_ns
    again = build_cache(bench, tiny, folder, DataSettings(num_points=NUM_POINTS), progress=False)
    assert again == meta and (folder / "meta.json").stat().st_mtime_ns == stamp


# -- VAE encoder ---------------------------------------------------------------------------
def test_vae_encoder_shapes_determinism_and_round_trip(pipe, cache):
    vae, tr = pipe.vae, pipe.transformer
    s0, s1 = cache[2][0], cache[2][1]
    surf = torch.stack([s0.surface[0], s1.surface[0]])                 # two real shapes (2, P, 6)
    t, c = tr.config.width, tr.config.in_channels
    with torch.no_grad():
        a = vae.encode(surf, num_tokens=t, seed=0)
        b = vae.encode(surf, num_tokens=t, seed=0)
        other = vae.encode(surf, num_tokens=t, seed=1)
        single = vae.encode(surf[1:], num_tokens=t, seed=0)
    # Latents fit the DiT: T tokens of its in_channels.
    assert a.moments.shape == (2, t, 2 * c) and a.posterior.mean.shape == (2, t, c)
    assert a.sampled_surface.shape == (2, t, 6) and a.fps_indices.shape == (2, t)
    assert torch.equal(a.moments, b.moments)                               # deterministic
    assert not np.array_equal(a.subset_indices, other.subset_indices)
    assert not torch.equal(a.moments, other.moments)                      # the seed picks the queries
    # Batching changes nothing but summation order.
    tol = reorder_atol(rms(a.moments), 4 * t, layers=4)
    assert (a.moments[1:] - single.moments).abs().max() <= tol
    # FPS picks distinct points spread over the surface: they cover it better than the
    # first T points of the random subset do.
    from scipy.spatial import cKDTree
    pts = surf[0, :, :3].numpy()
    fps_cover = cKDTree(a.sampled_surface[0, :, :3].numpy()).query(pts)[0].max()
    sub = surf[0, torch.from_numpy(a.subset_indices[:t]), :3].numpy()
    assert len(np.unique(a.fps_indices[0].numpy())) == t
    assert fps_cover < cKDTree(sub).query(pts)[0].max()
    # decode(encode(x)): the mean latents decode to a finite field, deterministically, by the
    # full decoder and by the cached-KV query path alike; different shapes decode differently.
    q = torch.rand(2, 300, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        f = vae.decode(a.posterior.mean, q)
        f_again = vae.decode(b.posterior.mean, q)
        f_fn = torch.stack([vae.query_fn(a.posterior.mean[i])(q[i]) for i in range(2)])
    assert f.shape == (2, 300, 1) and torch.isfinite(f).all() and torch.equal(f, f_again)
    assert (f[..., 0] - f_fn).abs().max() <= reorder_atol(rms(f), 64, layers=6)
    assert (f[0] - f[1]).abs().max() > 100 * reorder_atol(rms(f), 64, layers=6)
    # The posterior sample is mean + std·noise with a seeded generator.
    z = a.posterior.sample(torch.Generator().manual_seed(3))
    z2 = a.posterior.sample(torch.Generator().manual_seed(3))
    assert torch.equal(z, z2) and torch.isfinite(z).all()


# -- attention over padded groups ----------------------------------------------------------
def test_padded_groups_attention():
    from scenewright.methods.midi.attention import PaddedGroups, attend, attend_mi, attend_padded_groups
    g = torch.Generator().manual_seed(0)
    p, h, t, d = 4, 2, 5, 8
    q, k, v = (torch.randn(2 * p, h, t, d, generator=g) for _ in range(3))
    full = attend_padded_groups(q, k, v, PaddedGroups(p, (p, p)))
    assert torch.equal(full, attend_mi(q, k, v, p))                   # no padding = MI attention
    out = attend_padded_groups(q, k, v, PaddedGroups(p, (2, 3)))
    assert torch.equal(out[0:2], attend_mi(q[0:2], k[0:2], v[0:2], 2))      # real ones: MI among them
    assert torch.equal(out[4:7], attend_mi(q[4:7], k[4:7], v[4:7], 3))
    assert torch.equal(out[2:4], attend(q[2:4], k[2:4], v[2:4]))            # padding: itself only
    assert torch.equal(out[7:8], attend(q[7:8], k[7:8], v[7:8]))
    # The padding's content never reaches the real instances.
    k2 = k.clone()
    k2[2:4] += 5.0
    assert torch.equal(attend_padded_groups(q, k2, v, PaddedGroups(p, (2, 3)))[0:2], out[0:2])
    with pytest.raises(ValueError):
        PaddedGroups(3, (4,))


# -- objective -----------------------------------------------------------------------------
def test_objective_sign_density_and_drop(cache, pipe):
    from scenewright.methods.midi.scheduler import RectifiedFlowScheduler
    from scenewright.methods.midi.train.objective import ObjectiveSettings, make_batch, micro_batch_seed
    data = cache[2]
    st = ObjectiveSettings(group_size=4)
    b = make_batch([data[0], data[1]], st, micro_batch_seed(0, 5))
    again = make_batch([data[0], data[1]], st, micro_batch_seed(0, 5))
    assert torch.equal(b.noisy, again.noisy) and torch.equal(b.target, again.target)
    assert b.noisy.shape == (8, pipe.transformer.config.width, pipe.transformer.config.in_channels)
    # R6: one Euler step of the inference scheduler from σ to 0 with the true velocity
    # (the target) lands on the clean latents x0 = x_σ + σ·(x0 − ε), i.e. v points to data.
    sigma = b.timestep[0] / 1000
    sched = RectifiedFlowScheduler()
    sched.set_timesteps(1)
    sched.sigmas = torch.tensor([float(sigma), 0.0])
    x0 = sched.step(b.target[:4], None, b.noisy[:4], step_index=0)
    eps = x0 - b.target[:4]
    assert torch.allclose((1 - sigma) * x0 + sigma * eps, b.noisy[:4], atol=8 * EPS32 * float(rms(b.noisy)) * 4)
    # x0 is the cached posterior's sample: within a few std of its mean.
    mean, logvar = data[0].moments.chunk(2, dim=-1)
    n0 = data[0].n
    z = (x0[:n0] - mean[:n0]) / torch.exp(0.5 * logvar[:n0].clamp(-30, 20))
    assert z.abs().max() < 7
    # Logit-normal σ (one per scene) and the condition drop rate, over many draws.
    sig, drops = [], []
    for m in range(400):
        bb = make_batch([data[0]], ObjectiveSettings(group_size=1), micro_batch_seed(1, m))
        sig.append(float(bb.sigma[0]))
        drops.append(bool(bb.dropped[0]))
        if bb.dropped[0]:
            assert not bb.embeds_1.any() and not bb.embeds_2.any()      # zeros, CFG's negatives (R5)
    u = np.log(np.array(sig) / (1 - np.array(sig)))
    # mean 0, std 1: 400 draws put the sample mean within 5/√400 = 0.25 and the std within ~0.2.
    assert abs(u.mean()) < 0.25 and abs(u.std() - 1) < 0.2
    # drop rate 0.1: binomial std √(400·0.1·0.9) = 6, so 40 ± 5σ.
    assert 10 <= sum(drops) <= 70


# -- training ------------------------------------------------------------------------------
def test_loss_falls_on_four_scenes(full_run):
    out, r = full_run
    assert len(r.losses) == 30 and all(np.isfinite(r.losses))
    # The fixed-noise evaluation loss (same draws before and after) must fall clearly.
    assert r.eval_loss_after < 0.85 * r.eval_loss_before, (r.eval_loss_before, r.eval_loss_after)
    assert np.mean(r.losses[-10:]) < np.mean(r.losses[:10])
    rows = list(csv.DictReader(open(out / "train_log.csv")))
    assert [int(x["step"]) for x in rows] == list(range(1, 31))
    assert [float(x["loss"]) for x in rows] == r.losses                # logged exactly
    rec = json.loads((out / "training.json").read_text())
    assert rec["settings"]["lora"] is False and rec["steps_done"] == 30
    assert rec["evaluation_loss"]["after"] == r.eval_loss_after


def test_saved_folder_loads_through_inference_and_changes_output(full_run, tiny, capture_dir):
    from safetensors.torch import load_file
    from scenewright.cli import main
    from scenewright.methods.midi.pipeline import MIDIPipeline
    out, _ = full_run
    base = MIDIPipeline.from_pretrained(tiny)
    tuned = MIDIPipeline.from_pretrained(out)
    saved = load_file(str(out / "transformer" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(tuned.transformer.state_dict()[k], v) for k, v in saved.items())
    inputs = base._inputs(capture_dir_pair(capture_dir), False)
    e1, e2 = base.encode_images(inputs)
    za, _ = base.denoise(e1, e2, steps=3, keep_trace=False)
    zb, _ = tuned.denoise(e1, e2, steps=3, keep_trace=False)
    assert (za - zb).abs().max() > 100 * reorder_atol(rms(za), 64, layers=21)
    # The other components are the base's, unchanged.
    for comp in ("vae", "image_encoder_1", "image_encoder_2"):
        a = list((tiny / comp).glob("*.safetensors"))[0]
        assert (out / comp / a.name).read_bytes() == a.read_bytes()
    # And the CLI takes it as --weights.
    assert main(["reconstruct", str(capture_dir), "-o", str(out.parent / "rec"), "--method", "midi",
                 "--weights", str(out), "--set", "steps=2", "--set", "octree_depth=4", "--set", "smooth=false"]) == 0
    assert (out.parent / "rec" / "scene.glb").is_file()


def capture_dir_pair(capture_dir):
    from scenewright.capture import load_capture
    return load_capture(capture_dir)


def test_resume_is_bit_exact(bench, tiny, cache, tmp_path):
    """LoRA with gradient accumulation and 2-scene micro-batches: 6 steps straight versus 3
    steps, stop, resume to 6: the same losses, bit for bit, and the same weights."""
    from safetensors.torch import load_file
    from scenewright.methods.midi.train.trainer import train
    kw = dict(lr=1e-3, batch_size=2, grad_accum=2, checkpoint_every=3)
    a = train(bench, tiny, tmp_path / "a", _settings(steps=6, **kw), cache=cache[0], progress=False)
    b1 = train(bench, tiny, tmp_path / "b", _settings(steps=3, **kw), cache=cache[0], progress=False)
    b2 = train(bench, tiny, tmp_path / "b", _settings(steps=6, **kw), cache=cache[0], progress=False,
               resume=True)
    assert b2.start_step == 3 and len(b2.losses) == 3
    assert b1.losses + b2.losses == a.losses
    assert len(set(a.losses)) == 6                          # the steps did change something
    log_a = (tmp_path / "a" / "train_log.csv").read_text().splitlines()
    log_b = (tmp_path / "b" / "train_log.csv").read_text().splitlines()
    assert [r.split(",")[:6] for r in log_a] == [r.split(",")[:6] for r in log_b]
    for rel in ("transformer/diffusion_pytorch_model.safetensors", "lora/adapter_model.safetensors"):
        sa, sb = load_file(str(tmp_path / "a" / rel)), load_file(str(tmp_path / "b" / rel))
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    # Resuming with other settings is refused, naming them.
    from scenewright.errors import InputError
    with pytest.raises(InputError, match="lr"):
        train(bench, tiny, tmp_path / "b", _settings(steps=8, **dict(kw, lr=2e-3)), cache=cache[0],
              progress=False, resume=True)


def test_lora_merges_and_unmerges_exactly(tiny, tmp_path):
    """peft's merge and unmerge, our merged weight file and our --lora merge agree."""
    from peft.tuners.lora import LoraLayer
    from scenewright.methods.midi.train.lora import (add_lora, lora_config, merge_lora_file, merged_state_dict,
                                                     save_adapter)
    from scenewright.methods.midi.weights import load_transformer
    base = load_transformer(tiny).eval()
    model = add_lora(load_transformer(tiny).eval(), lora_config(4, 8.0))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:                 # peft starts B at 0; make the adapter do something
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    cfg = base.config
    x = torch.randn(3, cfg.width, cfg.in_channels, generator=g)
    t = torch.tensor([100.0, 500.0, 900.0])
    e1 = torch.randn(3, 1, cfg.cross_attention_dim, generator=g)
    e2 = torch.randn(3, 5, cfg.cross_attention_2_dim, generator=g)
    originals = {k: v.clone() for k, v in model.state_dict().items() if "base_layer" in k}
    with torch.no_grad():
        y_base = base(x, t, e1, e2, num_instances=3)
        y_lora = model(x, t, e1, e2, num_instances=3)
        layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
        # Adapters off = the base model, bit for bit (explicit-math attention: both models then
        # call each projection separately, the wrapper's base layer being the original Linear).
        from scenewright.methods.midi.attention import attention_backend
        with attention_backend("math"):
            y_base_math = base(x, t, e1, e2, num_instances=3)
            for m in layers:
                m.enable_adapters(False)
            y_disabled = model(x, t, e1, e2, num_instances=3)
            for m in layers:
                m.enable_adapters(True)
        assert len(layers) == 21 * 3 * 4
        for m in layers:
            m.merge()
        merged = {k: v.clone() for k, v in model.state_dict().items() if "base_layer" in k}
        y_merged = model(x, t, e1, e2, num_instances=3)
        for m in layers:
            m.unmerge()
        y_unmerged = model(x, t, e1, e2, num_instances=3)
    assert (y_lora - y_base).abs().max() > 1e-3                     # the adapter matters
    # W x + s·B(A x) and (W + s·BA) x differ by summation order only: 21 blocks of sums of
    # length ≤ 4·width, on activations of rms(y).
    tol = reorder_atol(rms(y_lora), 4 * cfg.width, layers=21 * 4)
    assert (y_merged - y_lora).abs().max() <= tol
    assert (y_unmerged - y_lora).abs().max() <= tol
    assert torch.equal(y_disabled, y_base_math)
    # Unmerge restores each weight to (W + Δ) − Δ: within one rounding of |W| + |Δ|.
    for k, w in originals.items():
        now = model.state_dict()[k]
        bound = 2 * EPS32 * (w.abs() + (merged[k] - w).abs()) + 1e-30
        assert ((now - w).abs() <= bound).all(), k
    # Our merged file equals peft's merge; and --lora (merge_lora_file) on the base equals it.
    ours = merged_state_dict(model)
    for k, w in merged.items():
        key = k.replace(".base_layer.", ".")
        assert ((ours[key] - w).abs() <= 2 * EPS32 * (w.abs() + 1e-30) + 1e-12).all(), key
    folder = save_adapter(model, lora_config(4, 8.0), tmp_path / "lora")
    target = load_transformer(tiny).eval()
    assert merge_lora_file(target, folder) == len(layers)
    for k, v in target.state_dict().items():
        assert torch.equal(v, ours[k]), k


def test_lora_file_through_reconstruct(bench, tiny, cache, tmp_path, capture_dir):
    """A LoRA run's adapter applied with --lora to the base gives the run's merged weights;
    the CLI records it; a broken adapter is an error naming the file."""
    from scenewright.cli import main
    from scenewright.methods.midi.pipeline import MIDIPipeline
    from scenewright.methods.midi.train.trainer import train
    out = tmp_path / "lora_run"
    train(bench, tiny, out, _settings(steps=4, lr=1e-2), cache=cache[0], progress=False)
    via_lora = MIDIPipeline.from_pretrained(tiny, lora=out / "lora").transformer.state_dict()
    merged = MIDIPipeline.from_pretrained(out).transformer.state_dict()
    base = MIDIPipeline.from_pretrained(tiny).transformer.state_dict()
    assert all(torch.equal(via_lora[k], merged[k]) for k in merged)
    assert any(not torch.equal(base[k], merged[k]) for k in merged)
    rec = tmp_path / "rec"
    assert main(["reconstruct", str(capture_dir), "-o", str(rec), "--method", "midi", "--weights", str(tiny),
                 "--set", f"lora={out / 'lora' / 'adapter_model.safetensors'}", "--set", "steps=2",
                 "--set", "octree_depth=4", "--set", "smooth=false"]) == 0
    settings = json.loads((rec / "scene.json").read_text())["method"]["settings"]
    assert settings["lora"].endswith("adapter_model.safetensors")
    (out / "lora" / "adapter_config.json").unlink()
    assert main(["reconstruct", str(capture_dir), "-o", str(tmp_path / "rec2"), "--method", "midi",
                 "--weights", str(tiny), "--set", f"lora={out / 'lora'}"]) == 2
    assert not (tmp_path / "rec2").exists()


def test_cli_train_and_its_errors(bench, tiny, cache, tmp_path, capsys):
    from scenewright.cli import main
    out = tmp_path / "cli"
    args = ["train", "midi", "--data", str(bench), "--weights", str(tiny), "-o", str(out), "--steps", "2",
            "--num-points", str(NUM_POINTS), "--cache", str(cache[0]), "--lora-rank", "4", "--no-progress"]
    assert main(args) == 0
    assert "loss" in capsys.readouterr().out and (out / "model_index.json").is_file()
    assert main(args) == 2                                              # exists, no --overwrite
    assert "not empty" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 2                               # 2 steps already done
    assert "already trained 2 steps" in capsys.readouterr().err
    fresh = tmp_path / "fresh"
    assert main([a if a != str(out) else str(fresh) for a in args] + ["--resume"]) == 2
    assert f"{fresh}: no checkpoint to resume from" in capsys.readouterr().err
    assert main(["train", "midi", "--data", str(tmp_path / "nobench"), "--weights", str(tiny), "-o",
                 str(tmp_path / "x"), "--steps", "1"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'nobench'}")
