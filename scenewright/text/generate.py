"""Prompt → scene folder(s): read the request, choose assets, arrange, optimise, check, write.

``TextToScene(library)`` holds what is loaded once (library, asset pool, the sentence
encoder and the category matcher) so many prompts and seeds run warm. ``make_scene`` furnishes
one room for a request and seed; ``write_generated`` writes scene folders (atomically, through
:func:`scenewright.scene.write_scene`) and, for several variants, a contact sheet.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scenewright import __version__
from scenewright.errors import InputError
from scenewright.bench.themes import label_from_name
from scenewright.geometry.room import Room, room_meshes, room_walls
from scenewright.library.categories import category_info
from scenewright.scene import Camera, Instance, Relation, Scene
from scenewright.text.request import ObjectRequest, RelationRequest, SceneRequest, parse_request

METHOD = "text"
# Gap the optimiser keeps when it re-rests a small thing on its support (see arrange.text_layout_settings).
REST_GAP_M = 0.012
IMPLIED_SUPPORT = {"tv": "tv_stand", "tableware": "dining_table", "electronics": "desk", "book": "coffee_table",
                   "lamp": "nightstand", "vase": "coffee_table", "plant": "coffee_table", "decor": "cabinet"}


@dataclass
class GenerateSettings:
    """What decides a generated room (recorded in scene.json)."""

    seed: int = 0
    attempts: int = 12                 # arrangements drawn before giving up
    grow_after: int = 4                # attempts at the asked size before a room of unstated size grows
    grow_factor: float = 1.1
    wall_height: float = 2.6
    preview_size: int = 512
    optimize: bool = True              # run the layout optimiser on the arrangement

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Generated:
    scene: Scene
    request: SceneRequest
    info: dict
    timings_s: dict = field(default_factory=dict)


class TextToScene:
    """Loaded once: library, asset pool, encoder, matcher, asset looks."""

    def __init__(self, library, models=None):
        from scenewright.bench.generate import asset_pool
        from scenewright.library import Library
        from scenewright.text.assets import AssetLooks
        from scenewright.text.embed import TextEncoder
        from scenewright.text.match import CategoryMatcher

        t0 = time.perf_counter()
        self.library_path = Path(library)
        self.lib = Library.open(library)
        self.pool = asset_pool(self.lib, None, library)
        t1 = time.perf_counter()
        self.encoder = TextEncoder.shared(models)
        t2 = time.perf_counter()
        self.matcher = CategoryMatcher.from_library(self.lib, self.encoder)
        self.looks = AssetLooks(self.lib)
        self.load_timings = {"library": round(t1 - t0, 3), "encoder": round(t2 - t1, 3),
                             "matcher": round(time.perf_counter() - t2, 3)}

    @property
    def available(self) -> set[str]:
        return {c for c, recs in self.pool.by_category.items() if recs}

    def parse(self, prompt: str, room: tuple[float, float] | None = None) -> SceneRequest:
        return parse_request(prompt, self.matcher, room, self.available)

    # -- assets --------------------------------------------------------------------------
    def choose_assets(self, request: SceneRequest, rng: np.random.Generator) -> tuple[dict, dict]:
        """request id → record, and request id → {attribute: met}."""
        from scenewright.text.assets import choose_asset
        chosen, met = {}, {}
        for o in request.objects:
            records = self.pool.by_category[o.category]
            noun = (o.match or {}).get("phrase") or o.category.replace("_", " ")
            names = self.encoder.encode([label_from_name(r.name) or r.name.lower() for r in records])
            sims = names @ self.encoder.encode([noun])[0]
            chosen[o.id], met[o.id] = choose_asset(records, o.attributes, self.looks, rng, sims)
        return chosen, met

    # -- one room ------------------------------------------------------------------------
    def make_scene(self, request: SceneRequest, settings: GenerateSettings | None = None) -> Generated:
        from scenewright.text.arrange import arrange
        from scenewright.text.check import check_relations, walkable

        s = settings or GenerateSettings()
        t_start = time.perf_counter()
        request = with_implied_supports(request, self.available)
        width, depth = request.room_size
        fixed = request.room_size_source in ("prompt", "--room")
        best = None
        timings = {"assets": 0.0, "arrange": 0.0}
        for attempt in range(s.attempts):
            rng = np.random.default_rng([s.seed, attempt])
            if not fixed and attempt >= s.grow_after:
                g = s.grow_factor ** (attempt - s.grow_after + 1)
                width, depth = request.room_size[0] * g, request.room_size[1] * g
            room = Room(round(width, 3), round(depth, 3), s.wall_height)
            t0 = time.perf_counter()
            chosen, met = self.choose_assets(request, rng)
            timings["assets"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            f, slots, notes = arrange(request, self.pool, chosen, room, rng)
            timings["arrange"] += time.perf_counter() - t0
            missing = [sl for sl in slots if sl.placed is None]
            instances = _instances(f, slots, request, met, self.looks)
            door = _door(f)
            walk = walkable(instances, room, door, {i.id for i in instances if i.extra["support"] is None})
            failed = 0
            if not missing:
                checked = check_relations(instances, requested_instance_relations(request, slots), room)
                failed = sum(not c["holds"] for c in checked)
            score = (len(missing), 0 if walk["ok"] else 1, failed)
            if best is None or score < best[0]:
                best = (score, room, f, slots, instances, walk, door, attempt, met)
            if score == (0, 0, 0):
                break
        (n_missing, walk_bad, _), room, f, slots, instances, walk, door, attempt, met = best
        if n_missing:
            lost = sorted({sl.category.replace("_", " ") for sl in slots if sl.placed is None})
            raise InputError(f"prompt: cannot fit everything asked for in a {room.width:g} × {room.depth:g} m room "
                             f"({n_missing} object(s) left over: {', '.join(lost)}); ask for fewer or larger "
                             f"things, or a larger room (--room WxD)")
        if walk_bad:
            raise InputError(f"prompt: no arrangement in a {room.width:g} × {room.depth:g} m room leaves a path "
                             f"from the door to every seat and bed; ask for a larger room (--room WxD)")
        return self._finish(request, room, f, slots, instances, door, walk, attempt, s, timings, t_start)

    def _finish(self, request, room, f, slots, instances, door, walk, attempt, s, timings, t_start) -> Generated:
        from scenewright.methods.layout.optimize import OptimizeSettings, optimize_layout
        from scenewright.methods.layout.scene_graph import build_scene_graph
        from scenewright.text.check import check_relations, inside_room

        walls = [{"point": w.midpoint.tolist(), "normal": w.normal.tolist()} for w in room_walls(room)]
        floor = {"normal": [0.0, 1.0, 0.0], "height": 0.0}
        placed_rel = []
        for inst in instances:
            if inst.extra["support"] is not None:
                placed_rel.append(Relation("on", subject=inst.id, object=inst.extra["support"]))
            if inst.extra["wall"] is not None:
                placed_rel.append(Relation("against_wall", subject=inst.id, wall=inst.extra["wall"]))
        opt_report = None
        t0 = time.perf_counter()
        if s.optimize:
            instances, opt_report = optimize_layout(instances, floor, walls, placed_rel,
                                                    OptimizeSettings(overlap_volume=False, clearance_m=REST_GAP_M,
                                                                     # an arrangement is repaired by long moves
                                                                     max_separate_move_m=None))
        timings["optimize"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        graph = build_scene_graph(instances, floor, walls)
        requested = requested_instance_relations(request, slots)
        checked = check_relations(instances, requested, room)
        outside = inside_room(instances, room)
        timings["check"] = time.perf_counter() - t0
        for inst in instances:
            for k in ("support", "wall"):
                inst.extra.pop(k, None)
        used = sorted({i.asset_id for i in instances})
        surfaces = room_meshes(room)
        camera = overview_camera(room, s.preview_size)
        info = {"room": dataclasses.asdict(room), "door": door, "attempt": attempt + 1,
                "requested_relations": checked,
                "relations_satisfied": sum(c["holds"] for c in checked), "relations_requested": len(checked),
                "walkable": walk, "outside_room": outside,
                "optimizer": None if opt_report is None else {
                    k: opt_report.get(k) for k in ("colliding_pairs", "unsupported", "not_resting", "sweeps")}}
        timings = {k: round(v, 4) for k, v in timings.items()}
        timings["total"] = round(time.perf_counter() - t_start, 4)
        scene = Scene(camera=camera, instances=instances, floor=floor, walls=walls, relations=graph,
                      method={"name": METHOD, "version": __version__, "settings": s.to_json()},
                      timings_s=timings, room=dict(surfaces),
                      attribution=[self.lib.attribution(a) for a in used],
                      extra={"request": request.to_json(), "text": info})
        return Generated(scene, request, info, timings)


def with_implied_supports(request: SceneRequest, available: set[str]) -> SceneRequest:
    """A copy in which every small thing has somewhere to stand: a small object that is not
    put on anything, in a request without any support, brings its usual support (a TV its
    stand), recorded as ``source: implied`` with a note."""
    request = copy.deepcopy(request)
    from scenewright.bench.furnish import ONLY_PREFERRED, PREFERRED_SUPPORT
    on_subjects = {r.subject for r in request.relations if r.type == "on"}
    for o in list(request.objects):
        if category_info(o.category).role != "small" or o.id in on_subjects:
            continue
        usable = set(PREFERRED_SUPPORT.get(o.category, [])) if o.category in ONLY_PREFERRED else None
        if any(category_info(x.category).support and (usable is None or x.category in usable)
               for x in request.objects):
            continue
        sup = IMPLIED_SUPPORT.get(o.category, "cabinet")
        if sup not in available:
            sup = next((c for c in sorted(available) if category_info(c).support), None)
            if sup is None:
                raise InputError(f"prompt: nothing in the library can hold the {o.category.replace('_', ' ')}")
        oid = max(x.id for x in request.objects) + 1
        request.objects.append(ObjectRequest(oid, sup.replace("_", " "), sup, 1,
                                             {"colour": [], "material": [], "style": [], "size": 0},
                                             source="implied"))
        request.relations.append(RelationRequest("on", o.id, oid, source="implied"))
        request.notes.append(f"a {sup.replace('_', ' ')} was added for the {o.category.replace('_', ' ')} to stand on")
        on_subjects.add(o.id)
    return request


def requested_instance_relations(request: SceneRequest, slots) -> list[tuple]:
    """(kind, subject id, target id, target2 id) per instance relation the slots carry
    (instance id = slot index + 1; the sides of *between* are not separate relations)."""
    out = []
    for i, sl in enumerate(slots):
        for kind, target, extra in sl.relations:
            if kind == "between_side":
                continue
            if kind == "between":
                out.append(("between", i + 1, target + 1, extra + 1))
            else:
                out.append((kind, i + 1, None if target is None else target + 1, None))
    return out


def _instances(f, slots, request: SceneRequest, met: dict, looks) -> list[Instance]:
    """Scene instances (id = slot index + 1) for the placed slots."""
    index_of = {sl.placed: i + 1 for i, sl in enumerate(slots) if sl.placed is not None}
    out = []
    for i, sl in enumerate(slots):
        if sl.placed is None:
            continue
        p = f.placed[sl.placed]
        o = request.object(sl.request)
        ext = p.mesh.extents
        out.append(Instance(id=i + 1, mesh=p.mesh, world_from_object=np.asarray(p.world_from_object, float),
                            label=(o.match or {}).get("phrase") or o.category.replace("_", " "),
                            category=p.category, asset_id=p.asset_id,
                            size=[float(ext[0]), float(ext[1]), float(ext[2])],
                            extra={"request": o.id, "attributes_met": met.get(o.id, {}),
                                   "look": looks.look(sl.record).to_json(),
                                   "support": None if p.support is None else index_of.get(p.support),
                                   "wall": p.wall}))
    return out


def _door(f) -> dict:
    k, t = f.door
    w = f.walls[k]
    point = w.start + w.direction * t + w.normal * 0.45
    return {"wall": int(k), "t": round(float(t), 3), "point": [float(point[0]), float(point[2])]}


def overview_camera(room: Room, size: int) -> Camera:
    """A camera in a top corner of the room looking across it and down at the floor's centre."""
    from scenewright.capture import intrinsics_from_hfov
    from scenewright.geometry.transforms import look_along

    pos = np.array([room.width / 2 - 0.15, min(room.wall_height - 0.1, 2.4), room.depth / 2 - 0.15])
    target = np.array([-room.width * 0.1, 0.2, -room.depth * 0.1])
    fwd = target - pos
    K = intrinsics_from_hfov(size, size, 80.0)
    return Camera(K=K, width=size, height=size, world_from_camera=look_along(pos, fwd / np.linalg.norm(fwd)))


def render_preview(scene: Scene, renderer=None) -> np.ndarray:
    """(H, W, 3) uint8: the room and its objects from the scene camera."""
    from scenewright.render.scene_render import PreviewSettings, render_scene
    return render_scene(scene, settings=PreviewSettings(include_room=True), notes=[])


def contact_sheet(images: list[np.ndarray], columns: int = 4) -> np.ndarray:
    """Images (H, W, 3) uint8 of one size tiled in rows of ``columns`` on white."""
    h, w = images[0].shape[:2]
    cols = min(columns, len(images))
    rows = (len(images) + cols - 1) // cols
    sheet = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return sheet


def generate_to_folder(prompt: str, out, library, seed: int = 0, room: tuple[float, float] | None = None,
                       variants: int = 1, overwrite: bool = False, models=None, settings: GenerateSettings | None = None,
                       progress=None) -> dict:
    """Write ``out`` (one scene folder), or for ``variants`` > 1 ``out/variant_XX`` scene folders
    (seeds seed, seed+1, …) and ``out/contact_sheet.png``. Returns a summary (JSON-able)."""
    from scenewright.fileio import atomic_dir, check_output_dir, dumps_json
    from scenewright.scene import write_scene

    out = Path(out)
    if variants < 1 or variants > 64:
        raise InputError(f"--variants {variants}: must be in 1..64")
    check_output_dir(out, overwrite, inputs=[library])
    t0 = time.perf_counter()
    engine = TextToScene(library, models)
    request = engine.parse(prompt, room)
    base = settings or GenerateSettings()
    results = []
    for v in range(variants):
        s = dataclasses.replace(base, seed=seed + v)
        results.append(engine.make_scene(request, s))
        if progress:
            progress(v + 1, variants)
    previews = [render_preview(g.scene) for g in results]
    summary = {"prompt": prompt, "request": request.to_json(), "seeds": [seed + v for v in range(variants)],
               "load_s": engine.load_timings,
               "scenes": [{"seed": seed + v, "objects": len(g.scene.instances),
                           "relations_satisfied": g.info["relations_satisfied"],
                           "relations_requested": g.info["relations_requested"],
                           "walkable": g.info["walkable"]["ok"], "seconds": g.timings_s["total"]}
                          for v, g in enumerate(results)],
               "total_s": None}
    if variants == 1:
        write_scene(results[0].scene, out, preview=previews[0], overwrite=overwrite, inputs=[library])
    else:
        from PIL import Image
        with atomic_dir(out, overwrite=overwrite, inputs=[library]) as tmp:
            for v, (g, img) in enumerate(zip(results, previews)):
                write_scene(g.scene, tmp / f"variant_{v:02d}", preview=img)
            Image.fromarray(contact_sheet(previews)).save(tmp / "contact_sheet.png")
            summary["total_s"] = round(time.perf_counter() - t0, 3)
            (tmp / "variants.json").write_text(dumps_json(summary) + "\n")
    summary["total_s"] = round(time.perf_counter() - t0, 3)
    return summary
