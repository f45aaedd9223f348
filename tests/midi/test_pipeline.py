"""End-to-end parity (golden/e2e), fast vs reference paths, the CLI and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from conftest import maxdiff
from tolerance import marching_cubes_shift, reorder_atol, rms
from scenewright.cli import main as cli_main
from scenewright.errors import InputError
from scenewright.methods.midi import extract
from scenewright.methods.midi.preprocess import load_image_pair
from scenewright.methods.midi.weights import load_components
from scenewright.scene import read_scene

G = "e2e"


def denoise_reorder_atol(pipe, noise_pred, guidance: float = 7.0) -> tuple[float, float]:
    """(noise prediction, final latents) round-off bounds between two float32 denoising runs
    that sum in other orders: one DiT pass is 4·width-long reductions chained once per block;
    CFG ((1 − g)·u + g·c) weighs the independent errors of u and c by |1 − g| and g, so in
    quadrature by √((g − 1)² + g²), and the Euler steps add the steps' velocity errors with
    weights Δσ summing to 1."""
    cfg = pipe.c.transformer.config
    per_pass = reorder_atol(rms(noise_pred), 4 * cfg.width, cfg.num_layers)
    return per_pass, float(np.hypot(guidance - 1, guidance)) * per_pass


@pytest.fixture(scope="module")
def result(pipe, tiny):
    inputs = load_image_pair(tiny / "golden" / "scene_rgb.png", tiny / "golden" / "scene_seg.png")
    return pipe(inputs, steps=3, guidance=7.0, seed=42, octree_depth=5, extraction="dense",
                smooth=False, show_progress=False)


def test_denoising_matches_original(result, golden, atol):
    g = golden(G)
    assert torch.equal(result.trace.latents_init, g["latents_init"])
    assert maxdiff(result.trace.timesteps, g["timesteps"]) <= atol(G, "timesteps")
    assert maxdiff(torch.stack(result.trace.noise_pred), g["step_noise_pred"]) <= atol(G, "step_noise_pred")
    assert maxdiff(torch.stack(result.trace.velocity), g["step_velocity"]) <= atol(G, "step_velocity")
    assert maxdiff(torch.stack(result.trace.latents), g["step_latents"]) <= atol(G, "step_latents")
    assert maxdiff(result.latents, g["latents_final"]) <= atol(G, "latents_final")


def test_decoding_matches_original(result, golden, atol):
    g = golden(G)
    for i, d in enumerate(result.decodes):
        assert maxdiff(d.first.axes[0], g["grid_axis"]) == 0
        assert maxdiff(d.first.values, g["sdf_grid"][i]) <= atol(G, "sdf_grid")
        assert maxdiff(d.bbox_min, g["progressive_bbox_min"][i]) <= atol(G, "progressive_bbox_min")
        assert maxdiff(d.bbox_max, g["progressive_bbox_max"][i]) <= atol(G, "progressive_bbox_max")
        assert maxdiff(d.second.values, g["progressive_sdf_grid"][i]) <= atol(G, "progressive_sdf_grid")
        assert len(d.mesh.faces) > 0


def test_fast_path_equals_reference(pipe, golden, atol):
    """Batched CFG + cached cross K/V + SDPA == two separate passes, no cache, math attention."""
    g = golden(G)
    fast, tf = pipe.denoise(g["image_embeds_1"], g["image_embeds_2"], steps=3, seed=42)
    ref, tr = pipe.denoise(g["image_embeds_1"], g["image_embeds_2"], steps=3, seed=42, fast=False)
    pred_tol, latent_tol = denoise_reorder_atol(pipe, torch.stack(tr.noise_pred))
    assert maxdiff(torch.stack(tf.noise_pred), torch.stack(tr.noise_pred)) <= pred_tol
    assert maxdiff(fast, ref) <= latent_tol
    assert maxdiff(ref, g["latents_final"]) <= atol(G, "latents_final")


def test_explicit_latents_reproduce_seeded_run(pipe, golden):
    g = golden(G)
    a, _ = pipe.denoise(g["image_embeds_1"], g["image_embeds_2"], steps=3, seed=42)
    b, _ = pipe.denoise(g["image_embeds_1"], g["image_embeds_2"], steps=3, latents=g["latents_init"])
    assert torch.equal(a, b)


def _mc_reference(values, lo, hi, depth):
    """Marching cubes of a golden field with the original's R7 vertex mapping, written out."""
    from skimage import measure
    r = 2 ** depth + 1
    v, f, _, _ = measure.marching_cubes(np.asarray(values, np.float32), 0, method="lewiner")
    lo, hi = np.asarray(lo), np.asarray(hi)
    return (v / np.array([r, r, r]) * (hi - lo) + lo).astype(np.float32), f


def test_cli_end_to_end(capture_dir, tiny, tmp_path, golden, atol):
    out = tmp_path / "scene"
    rc = cli_main(["reconstruct", str(capture_dir), "-o", str(out), "--method", "midi",
                   "--weights", str(tiny), "--set", "steps=3", "--set", "octree_depth=5", "--set", "smooth=false",
                   "--set", "extraction=dense", "--seed", "42"])
    assert rc == 0
    scene = read_scene(out)
    g = golden(G)
    assert [i.id for i in scene.instances] == [40, 120, 200]
    assert scene.camera is not None and scene.camera.world_from_camera is None
    s = scene.method["settings"]
    assert scene.method["name"] == "midi" and s["steps"] == 3 and s["octree_depth"] == 5 and s["smooth"] is False
    assert {"load_weights", "encode", "denoise", "decode", "export"} <= set(scene.timings_s)
    for k, inst in enumerate(scene.instances):
        assert inst.asset_id is None and np.allclose(inst.world_from_object, np.eye(4))
        verts, faces = _mc_reference(g["progressive_sdf_grid"][k].numpy(), g["progressive_bbox_min"][k].numpy(),
                                     g["progressive_bbox_max"][k].numpy(), 5)
        # Same topology; vertices move as far as the field's golden tolerance allows on their
        # edge (a value near 0 on a flat edge moves its vertex most), plus float32 rounding.
        assert inst.mesh.faces.shape == faces.shape and np.array_equal(inst.mesh.faces, faces)
        grid = g["progressive_sdf_grid"][k].numpy()
        lo, hi = g["progressive_bbox_min"][k].numpy(), g["progressive_bbox_max"][k].numpy()
        spacing = (hi.astype(np.float64) - lo) / 33
        bound = marching_cubes_shift(grid, grid, atol(G, "progressive_sdf_grid"), spacing)
        bound += 8 * np.finfo(np.float32).eps * (32 * spacing + np.abs(verts))
        assert np.all(np.abs(inst.mesh.vertices - verts) <= bound)
    # Refusing to overwrite keeps the old folder.
    rc = cli_main(["reconstruct", str(capture_dir), "-o", str(out), "--method", "midi",
                   "--weights", str(tiny), "--set", "steps=1", "--set", "octree_depth=3"])
    assert rc == 2 and read_scene(out, load_meshes=False).method["settings"]["steps"] == 3


def test_reconstruct_reuses_a_loaded_pipeline(capture_dir, tiny, tmp_path):
    """A built method keeps one pipeline for all its captures: same scene as a fresh one."""
    from scenewright import Resources, get_method, load_capture, run_to_folder
    from scenewright.methods.midi.pipeline import MIDISettings
    settings = MIDISettings(steps=2, octree_depth=4, smooth=False, extraction="dense", seed=7)
    fresh = run_to_folder(capture_dir, tmp_path / "a", "midi", settings, Resources(weights=tiny), preview=False)
    resources = Resources(weights=tiny)
    method = get_method("midi")(settings, resources)
    assert resources.loads() == 1                            # loaded when built
    reused = []
    for k in range(2):
        scene = method.reconstruct(load_capture(capture_dir))
        reused.append(scene)
        assert resources.loads() == 1 and scene.timings_s["load_weights"] < 0.01
    for scene in reused:
        for a, b in zip(fresh.instances, scene.instances):
            assert np.array_equal(a.mesh.faces, b.mesh.faces) and np.allclose(a.mesh.vertices, b.mesh.vertices)


def test_smoothing_and_hierarchical_extraction(pipe, golden):
    """Smoothing (3×3×3 mean) and hierarchical decoding keep the occupancy of the dense field."""
    g = golden(G)
    lat = g["latents_final"][0]
    dense = pipe.decode_instance(lat, 5, "dense", True, smooth=False)
    hier = pipe.decode_instance(lat, 5, "hierarchical", True, smooth=False)
    assert np.array_equal(dense.bbox_min, hier.bbox_min)
    assert extract.occupancy_iou(dense.second.values, hier.second.values) == 1.0
    smooth = pipe.decode_instance(lat, 5, "dense", True, smooth=True)
    assert maxdiff(smooth.field_for_mesh, extract.smooth_grid(dense.second.values)) == 0
    assert len(smooth.mesh.faces) > 0


# -- bad input ---------------------------------------------------------------------------
def _run(capture, weights, out, *extra):
    return cli_main(["reconstruct", str(capture), "-o", str(out), "--method", "midi", "--weights",
                     str(weights), "--set", "steps=1", "--set", "octree_depth=3", "--set", "extraction=dense",
                     "--no-preview", *extra])


def test_missing_weights_and_components(capture_dir, tiny_copy, tmp_path, capsys):
    assert _run(capture_dir, tmp_path / "nowhere", tmp_path / "o1") == 2
    assert "scenewright models download midi" in capsys.readouterr().err
    rc = cli_main(["reconstruct", str(capture_dir), "-o", str(tmp_path / "o0"), "--method", "midi"])
    assert rc == 2 and "--weights" in capsys.readouterr().err
    import shutil
    shutil.rmtree(tiny_copy / "vae")
    assert _run(capture_dir, tiny_copy, tmp_path / "o2") == 2
    err = capsys.readouterr().err
    assert "vae" in err and "scenewright models download midi" in err
    assert not (tmp_path / "o2").exists()


def test_weight_dtypes(tiny_copy, golden):
    """fp16/bf16 weight files load and are cast; integer tensors are refused."""
    path = tiny_copy / "transformer" / "diffusion_pytorch_model.safetensors"
    sd = load_file(str(path))
    path.unlink()
    save_file({k: v.half() for k, v in sd.items()}, str(path.with_name("diffusion_pytorch_model.fp16.safetensors")))
    comps = load_components(tiny_copy, dtype="float32")
    assert comps.transformer.proj_in.weight.dtype == torch.float32
    assert maxdiff(comps.transformer.proj_in.weight, sd["proj_in.weight"]) < 1e-3
    comps16 = load_components(tiny_copy, dtype="bfloat16")
    assert comps16.vae.quant.weight.dtype == torch.bfloat16
    bad = {k: (v * 100).to(torch.int32) for k, v in sd.items()}
    save_file(bad, str(path))
    with pytest.raises(InputError, match="dtype torch.int32"):
        load_components(tiny_copy)
    with pytest.raises(InputError, match="dtype 'float8'"):
        load_components(tiny_copy, dtype="float8")


def test_weights_of_another_model(tiny_copy):
    """A transformer file of another size: InputError naming the file, key and both shapes."""
    cfg_path = tiny_copy / "transformer" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["width"] = 64
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(InputError, match=r"diffusion_pytorch_model.safetensors: tensor .* has shape"):
        load_components(tiny_copy)
    cfg["width"] = 32
    cfg_path.write_text(json.dumps(cfg))
    # A VAE file where the transformer belongs: keys do not match.
    import shutil
    shutil.copy(tiny_copy / "vae" / "diffusion_pytorch_model.safetensors",
                tiny_copy / "transformer" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(InputError, match="keys do not match"):
        load_components(tiny_copy)
    # CLIP weights where DINOv2 belongs.
    shutil.copy(tiny_copy / "image_encoder_1" / "model.safetensors", tiny_copy / "image_encoder_2" / "model.safetensors")
    shutil.copy(tiny_copy / "vae" / "diffusion_pytorch_model.safetensors",
                tiny_copy / "transformer" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(InputError):
        load_components(tiny_copy)


def test_unknown_class_in_index(tiny_copy):
    idx = json.loads((tiny_copy / "model_index.json").read_text())
    idx["transformer"] = ["somewhere.else", "OtherDiT"]
    (tiny_copy / "model_index.json").write_text(json.dumps(idx))
    with pytest.raises(InputError, match="OtherDiT"):
        load_components(tiny_copy)


def test_bad_captures(tiny, tmp_path, capsys):
    rgb = np.asarray(Image.open(tiny / "golden" / "scene_rgb.png").convert("RGB"))
    # No instances at all.
    cap = tmp_path / "empty"
    cap.mkdir()
    Image.fromarray(rgb).save(cap / "rgb.png")
    Image.fromarray(np.zeros(rgb.shape[:2], np.uint8)).save(cap / "seg.png")
    assert _run(cap, tiny, tmp_path / "o1") == 2
    assert "no instances" in capsys.readouterr().err
    # Too many instances for --max-instances.
    seg = np.zeros(rgb.shape[:2], np.uint8)
    for k in range(4):
        seg[10 * k:10 * k + 8, 5:20] = 10 + k
    cap2 = tmp_path / "many"
    cap2.mkdir()
    Image.fromarray(rgb).save(cap2 / "rgb.png")
    Image.fromarray(seg).save(cap2 / "seg.png")
    assert _run(cap2, tiny, tmp_path / "o2", "--set", "max_instances=3") == 2
    assert "more than the limit of 3" in capsys.readouterr().err


def test_tiny_instance_and_non_square(tiny, tmp_path):
    """A 2-pixel instance runs like the original; a non-square image runs with a warning;
    pad_image squares it first. Instances keep the capture's ids (16-bit seg here)."""
    rgb = np.asarray(Image.open(tiny / "golden" / "scene_rgb.png").convert("RGB"))[:, :64]
    seg = np.zeros(rgb.shape[:2], np.uint16)
    seg[20:60, 5:30] = 300
    seg[40, 50:52] = 1000                     # two pixels
    cap = tmp_path / "cap"
    cap.mkdir()
    Image.fromarray(rgb).save(cap / "rgb.png")
    Image.fromarray(seg).save(cap / "seg.png")
    assert _run(cap, tiny, tmp_path / "o1") == 0
    scene = read_scene(tmp_path / "o1")
    assert [i.id for i in scene.instances] == [300, 1000]
    assert scene.instances[1].extra["n_pixels"] == 2
    assert any("not square" in w for w in scene.extra["midi"]["warnings"])
    assert any("instance 1000 covers only 2 pixels" in w for w in scene.extra["midi"]["warnings"])
    assert _run(cap, tiny, tmp_path / "o2", "--set", "pad_image=true") == 0
    scene2 = read_scene(tmp_path / "o2", load_meshes=False)
    assert scene2.method["settings"]["pad_image"] is True
    assert not any("not square" in w for w in scene2.extra["midi"]["warnings"])


def test_download_offline_fails_cleanly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc = cli_main(["models", "download", "midi", "--to", str(tmp_path / "w")])
    assert rc == 2
    assert "VAST-AI/MIDI-3D" in capsys.readouterr().err


@pytest.mark.parametrize("opts", [(False, True, True, True), (True, False, True, True),
                                  (True, True, False, True), (True, True, True, False),
                                  (False, True, False, False), (False, False, True, True)])
def test_each_fast_path_alone(pipe, golden, atol, opts):
    """Every combination of fast paths tried gives the reference's numbers."""
    from scenewright.methods.midi.pipeline import FastPaths
    g = golden(G)
    x, tr = pipe.denoise(g["image_embeds_1"], g["image_embeds_2"], steps=3, seed=42, fast=FastPaths(*opts))
    assert maxdiff(torch.stack(tr.noise_pred), g["step_noise_pred"]) <= atol(G, "step_noise_pred")
    assert maxdiff(x, g["latents_final"]) <= atol(G, "latents_final")


@pytest.mark.parametrize("dtype,tol", [("float16", 0.1), ("bfloat16", 0.8)])
def test_half_precision_runs_close_to_float32(tiny, golden, dtype, tol):
    """16-bit weights (the original runs bf16 on CUDA) stay near the float32 goldens:
    measured 0.03 (fp16) and 0.26 (bf16) on latents of magnitude up to 13.6."""
    from scenewright.methods.midi.pipeline import MIDIPipeline
    g = golden(G)
    p = MIDIPipeline.from_pretrained(tiny, dtype=dtype)
    assert p.transformer.proj_in.weight.dtype == getattr(torch, dtype)
    inputs = load_image_pair(tiny / "golden" / "scene_rgb.png", tiny / "golden" / "scene_seg.png")
    r = p(inputs, steps=3, octree_depth=3, extraction="dense", smooth=False, show_progress=False)
    assert r.latents.dtype == torch.float32 and torch.isfinite(r.latents).all()
    assert maxdiff(r.latents, g["latents_final"]) < tol


def test_palette_seg_uses_capture_ids(tiny, tmp_path):
    """An RGB palette seg.png: instances follow the capture's ids (ascending packed colour),
    and the order is recorded."""
    rgb = np.asarray(Image.open(tiny / "golden" / "scene_rgb.png").convert("RGB"))
    pal = np.zeros(rgb.shape, np.uint8)
    pal[10:40, 10:40] = (0, 200, 0)
    pal[45:70, 20:60] = (200, 0, 0)
    cap = tmp_path / "cap"
    cap.mkdir()
    Image.fromarray(rgb).save(cap / "rgb.png")
    Image.fromarray(pal).save(cap / "seg.png")
    assert _run(cap, tiny, tmp_path / "o") == 0
    scene = read_scene(tmp_path / "o", load_meshes=False)
    assert [i.id for i in scene.instances] == [1, 2]
    assert scene.extra["midi"]["instance_order"] == [1, 2]
    assert scene.instances[0].extra["n_pixels"] == 900       # green (0x00C800) sorts first


def test_instance_without_surface(tiny, pipe, tmp_path):
    """A field with no inside point: the original's fallback box (the previous instance's,
    or the default for the first) and no mesh; a scene with such an instance writes and
    reads back, and a run where no instance has a surface is a clear error."""
    from scenewright.capture import load_capture
    from scenewright.methods.midi.pipeline import MIDIPipeline, MIDISettings, build_scene
    from scenewright.scene import write_scene
    p = MIDIPipeline.from_pretrained(tiny)
    with torch.no_grad():
        p.vae.decoder.proj_out.bias.fill_(-50.0)          # negated: +50 everywhere, all outside
    capture = load_capture(_capture(tiny, tmp_path))
    r = p(capture, steps=1, octree_depth=3, extraction="dense", smooth=False, show_progress=False)
    for d in r.decodes:
        assert np.allclose(d.bbox_min, -1.005) and np.allclose(d.bbox_max, 1.005)
        assert len(d.mesh.faces) == 0
    fallback = (np.full(3, -0.5), np.full(3, 0.5))
    d = p.decode_instance(r.latents[1], 3, "dense", True, False, fallback_box=fallback)
    assert np.array_equal(d.bbox_min, fallback[0]) and np.array_equal(d.bbox_max, fallback[1])
    good = pipe(capture, steps=1, octree_depth=3, extraction="dense", smooth=False, show_progress=False)
    good.decodes[1] = r.decodes[1]
    scene = build_scene(capture, good, MIDISettings(steps=1, octree_depth=3), {}, [])
    write_scene(scene, tmp_path / "out")
    back = read_scene(tmp_path / "out")
    assert [i.id for i in back.instances] == [40, 120, 200]
    assert [i.mesh is None for i in back.instances] == [False, True, False]
    assert back.instances[1].extra["empty_mesh"] is True


def _capture(tiny, tmp_path):
    import shutil
    cap = tmp_path / "cap"
    cap.mkdir()
    shutil.copy(tiny / "golden" / "scene_rgb.png", cap / "rgb.png")
    shutil.copy(tiny / "golden" / "scene_seg.png", cap / "seg.png")
    return cap


def test_no_surface_anywhere_is_reported(tiny_copy, capture_dir, tmp_path, capsys):
    path = tiny_copy / "vae" / "diffusion_pytorch_model.safetensors"
    sd = load_file(str(path))
    sd["decoder.proj_out.bias"] = torch.full_like(sd["decoder.proj_out.bias"], -50.0)
    save_file(sd, str(path))
    assert _run(capture_dir, tiny_copy, tmp_path / "o") == 2
    assert "no surface" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_call_with_image_paths_and_padding(pipe, tiny, golden, atol):
    """(rgb.png, seg.png) paths are read like the original CLI; --pad-image squares first."""
    g = golden(G)
    paths = (tiny / "golden" / "scene_rgb.png", tiny / "golden" / "scene_seg.png")
    r = pipe(paths, steps=3, octree_depth=3, extraction="dense", smooth=False, show_progress=False)
    assert r.inputs.ids == [40, 120, 200]
    assert maxdiff(r.latents, g["latents_final"]) <= atol(G, "latents_final")
    padded = pipe(paths, steps=1, octree_depth=3, extraction="dense", smooth=False, pad_image=True,
                  show_progress=False)
    h, w = padded.inputs.mask.shape[1:]
    assert h == w and h >= 80
    with pytest.raises(InputError, match="at most|more than"):
        pipe(paths, steps=1, max_instances=2, show_progress=False)
    with pytest.raises(InputError):
        pipe(42, steps=1, show_progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_settings_validation(capture_dir, tiny, tmp_path, capsys):
    assert _run(capture_dir, tiny, tmp_path / "o", "--set", "device=cuda") == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert _run(capture_dir, tiny, tmp_path / "o", "--set", "octree_depth=0") == 2
    assert "octree_depth" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
