"""The image path (Imaginarium's): prompt → picture by a diffusers pipeline → photo → scene,
then the request checks and repairs the result.

``text_to_image`` runs any diffusers text-to-image folder (``model_index.json``: FLUX.1 through
``FluxPipeline``, Stable Diffusion, …) loaded with ``DiffusionPipeline.from_pretrained`` from a
local folder, optionally with a LoRA (``load_lora_weights``). The picture goes through the
ordinary ``reconstruct PHOTO`` path (perception models from the models folder, the layout
method). ``repair`` then compares the reconstruction with the request: every requested object
the picture lost (a category missing, or fewer than asked) is added by the offline arranger in
free floor space around what was reconstructed, with the reconstructed objects as obstacles.
"""

from __future__ import annotations

import copy
import hashlib
import time
from pathlib import Path

import numpy as np

from scenewright.errors import InputError


def load_pipeline(model_dir):
    """``DiffusionPipeline.from_pretrained`` of a local folder (float32, no progress bars, never the
    hub): the class its ``model_index.json`` names, e.g. ``FluxPipeline``. A folder that does not
    load (a component missing, a config or weights file broken) is an InputError naming it."""
    import json

    model_dir = Path(model_dir)
    index_file = model_dir / "model_index.json"
    if not index_file.is_file():
        raise InputError(f"{model_dir}: not a diffusers pipeline folder (no model_index.json)")
    try:
        index = json.loads(index_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{index_file}: not readable JSON ({exc})") from None
    if not isinstance(index, dict) or not isinstance(index.get("_class_name"), str):
        raise InputError(f"{index_file}: names no pipeline class (_class_name)")
    # a component the index lists but the folder lacks would load as None and fail only when called
    missing = [f"{name}/ ({spec[1]})" for name, spec in index.items()
               if not name.startswith("_") and isinstance(spec, list) and len(spec) == 2 and None not in spec
               and not (model_dir / name).is_dir()]
    if missing:
        raise InputError(f"{model_dir}: {index['_class_name']} component folder missing: {', '.join(missing)}")
    import torch
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging as dlog
    dlog.set_verbosity_error()
    dlog.disable_progress_bar()
    try:
        pipe = DiffusionPipeline.from_pretrained(str(model_dir), dtype=torch.float32, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{model_dir}: cannot load the pipeline ({type(exc).__name__}: {exc})") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def text_to_image(prompt: str, model_dir, lora=None, seed: int = 0, steps: int = 28, size: int = 512,
                  guidance: float | None = None, device: str = "cpu") -> np.ndarray:
    """(size, size, 3) uint8 picture of ``prompt`` from the pipeline folder ``model_dir``."""
    model_dir = Path(model_dir)
    if not (model_dir / "model_index.json").is_file():
        raise InputError(f"{model_dir}: not a diffusers pipeline folder (no model_index.json)")
    if lora is not None and not Path(lora).is_file():
        raise InputError(f"{lora}: LoRA file not found")
    import torch
    pipe = load_pipeline(model_dir)
    factor = getattr(pipe, "vae_scale_factor", 8) * (2 if type(pipe).__name__.startswith("Flux") else 1)
    if size % factor:
        raise InputError(f"{model_dir}: picture size {size} must be a multiple of {factor} for {type(pipe).__name__}")
    pipe.to(device)
    if lora is not None:
        try:
            pipe.load_lora_weights(str(Path(lora).parent), weight_name=Path(lora).name)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise InputError(f"{lora}: not a LoRA for this pipeline ({type(exc).__name__}: {exc})") from None
        if not any(pipe.get_list_adapters().values()):
            # diffusers only warns when no key of the file names a layer of this pipeline
            raise InputError(f"{lora}: no layer of {type(pipe).__name__} ({model_dir}) matches this LoRA "
                             "(trained for another architecture?)")
    kwargs = {"prompt": prompt, "num_inference_steps": steps, "height": size, "width": size,
              "generator": torch.Generator(device="cpu").manual_seed(seed), "output_type": "np"}
    if guidance is not None:
        kwargs["guidance_scale"] = guidance
    images = pipe(**kwargs).images
    return (np.clip(np.asarray(images[0]), 0, 1) * 255).round().astype(np.uint8)


def reconstruct_photo(photo: Path, out: Path, library, models, labels: list[str], seed: int) -> None:
    """The ordinary ``scenewright reconstruct PHOTO`` path (layout method) into ``out``."""
    from scenewright.cli import build_parser
    argv = ["reconstruct", str(photo), "-o", str(out), "--method", "layout", "--library", str(library),
            "--labels", ", ".join(labels), "--seed", str(seed),
            # the repair arranges what the picture lost around the reconstruction, which the
            # optimiser may have to clear by long moves (the layout method's 1 m cap leaves no floor)
            "--set", "arrange.optimize.max_separate_move_m=null"]
    if models is not None:
        argv += ["--models", str(models)]
    args = build_parser().parse_args(argv)
    args.func(args)


def repair(engine, request, recon, seed: int = 0):
    """Scene = the reconstruction + the requested objects it lacks, placed by the offline arranger.

    Returns (scene, report) with ``report["missing"]`` {category: count added}.
    """
    from scenewright.bench.furnish import Placed
    from scenewright.geometry.room import Room, footprint_of
    from scenewright.methods.layout.scene_graph import build_scene_graph
    from scenewright.text.arrange import arrange
    from scenewright.text.generate import GenerateSettings, _instances, with_implied_supports

    have: dict[str, int] = {}
    for inst in recon.instances:
        have[inst.category] = have.get(inst.category, 0) + 1
    missing_req = copy.deepcopy(request)
    keep = []
    for o in missing_req.objects:
        lack = o.count - have.get(o.category, 0)
        if lack > 0:
            o.count = lack
            keep.append(o)
    missing_req.objects = keep
    ids = {o.id for o in keep}
    missing_req.relations = [r for r in missing_req.relations if r.subject in ids
                             and (r.object is None or r.object in ids) and (r.object2 is None or r.object2 in ids)]
    report = {"reconstructed": have, "missing": {o.category: o.count for o in keep}}
    if not keep:
        return recon, report
    missing_req = with_implied_supports(missing_req, engine.available)
    # the reconstructed objects, baked into world meshes, shifted so the room is centred
    worlds = [i.world_mesh() for i in recon.instances if i.mesh is not None]
    if worlds:
        lo = np.min([m.bounds[0] for m in worlds], axis=0)
        hi = np.max([m.bounds[1] for m in worlds], axis=0)
    else:
        lo, hi = np.zeros(3), np.zeros(3)
    centre = np.array([(lo[0] + hi[0]) / 2, 0.0, (lo[2] + hi[2]) / 2])
    width = max(request.room_size[0], hi[0] - lo[0] + 2.0)
    depth = max(request.room_size[1], hi[2] - lo[2] + 2.0)
    shift = np.eye(4)
    shift[:3, 3] = -centre
    last_error = None
    for attempt in range(GenerateSettings().attempts):
        rng = np.random.default_rng([seed, attempt])
        chosen, met = engine.choose_assets(missing_req, rng)
        obstacles = []
        for k, (inst, m) in enumerate(zip([i for i in recon.instances if i.mesh is not None], worlds)):
            mesh = m.copy()
            mesh.apply_transform(shift)
            key = hashlib.sha1(np.asarray(mesh.vertices, np.float64).tobytes()).hexdigest()[:16]
            obstacles.append(Placed(f"reconstructed/{key}", inst.label or "", inst.category or "decor", mesh,
                                    np.eye(4), footprint_of(mesh.bounds, np.eye(4))))
        f, slots, _ = arrange(missing_req, engine.pool, chosen, Room(round(width, 3), round(depth, 3)), rng,
                              obstacles=obstacles)
        if all(sl.placed is not None for sl in slots):
            break
        last_error = sorted({sl.category for sl in slots if sl.placed is None})
    else:
        raise InputError(f"prompt: the picture lost {', '.join(last_error)} and no free floor around the "
                         f"reconstruction holds them")
    added = _instances(f, slots, missing_req, met, engine.looks)
    next_id = max([i.id for i in recon.instances], default=0) + 1
    unshift = np.linalg.inv(shift)
    old_to_new = {}
    for inst in added:
        old_to_new[inst.id] = next_id
        inst.id = next_id
        inst.world_from_object = unshift @ inst.world_from_object
        inst.extra = {k: v for k, v in inst.extra.items() if k not in ("support", "wall")}
        inst.extra["added_by"] = "request repair"
        next_id += 1
    scene = copy.copy(recon)
    scene.instances = list(recon.instances) + added
    scene.relations = build_scene_graph(scene.instances, scene.floor, scene.walls)
    used = {a["asset_id"] for a in recon.attribution}
    scene.attribution = list(recon.attribution) + [engine.lib.attribution(i.asset_id) for i in added
                                                   if i.asset_id not in used]
    report["added_ids"] = sorted(old_to_new.values())
    return scene, report


def generate_with_image_model(prompt: str, out, library, image_model, lora=None, models=None, seed: int = 0,
                              room=None, steps: int = 28, size: int = 512, overwrite: bool = False) -> dict:
    """Prompt → picture → scene, repaired by the request; writes ``out`` (a scene folder with
    ``generated.png`` and the reconstruction's ``perceived`` capture beside it)."""
    import shutil
    import tempfile

    from PIL import Image

    from scenewright.fileio import atomic_dir, check_output_dir
    from scenewright.render.scene_render import render_scene
    from scenewright.scene import read_scene
    from scenewright.text.generate import TextToScene

    out = Path(out)
    check_output_dir(out, overwrite, inputs=[library, image_model, lora])
    t0 = time.perf_counter()
    engine = TextToScene(library, models)
    request = engine.parse(prompt, room)
    t1 = time.perf_counter()
    image = text_to_image(prompt, image_model, lora, seed=seed, steps=steps, size=size)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".scenewright-image-", dir=out.parent if out.parent.exists() else None) as tmpd:
        photo = Path(tmpd) / "generated.png"
        Image.fromarray(image).save(photo)
        labels = sorted({o.category.replace("_", " ") for o in request.objects})
        reconstruct_photo(photo, Path(tmpd) / "recon", library, models, labels, seed)
        t3 = time.perf_counter()
        recon = read_scene(Path(tmpd) / "recon")
        scene, report = repair(engine, request, recon, seed)
        t4 = time.perf_counter()
        scene.extra = dict(scene.extra)
        scene.extra["request"] = request.to_json()
        scene.extra["image"] = {"model": str(Path(image_model).resolve()), "lora": None if lora is None
                                else str(Path(lora).resolve()), "seed": seed, "steps": steps, "size": size,
                                "repair": report}
        scene.timings_s = {**(scene.timings_s or {}), "parse": round(t1 - t0, 4), "image": round(t2 - t1, 4),
                           "reconstruct": round(t3 - t2, 4), "repair": round(t4 - t3, 4)}
        preview = render_scene(scene, size=(size, size), notes=[])
        with atomic_dir(out, overwrite=overwrite, inputs=[library, image_model, lora]) as tmp:
            from scenewright.scene import write_scene
            write_scene(scene, tmp / "scene", preview=preview)
            for p in (tmp / "scene").iterdir():
                p.rename(tmp / p.name)
            (tmp / "scene").rmdir()
            shutil.copy(photo, tmp / "generated.png")
            if (Path(tmpd) / "recon" / "perceived").is_dir():
                shutil.copytree(Path(tmpd) / "recon" / "perceived", tmp / "perceived")
    return {"request": request.to_json(), "repair": report, "timings_s": scene.timings_s}
