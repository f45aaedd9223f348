"""The layout method: capture → perception → category → retrieval → pose → graph → optimise → scene.

``LayoutMethod`` is the registered method (``scenewright reconstruct --method layout``);
``reconstruct(capture, library, settings)`` is the pipeline itself, a pure function.

Every stage is a call into a small module (``perception.perceive``, this package's
``labels``, ``retrieval``, ``pose``, ``consensus``, ``scene_graph``, ``optimize``); this
module only wires them, times them (``Scene.timings_s``) and
records the settings (``Scene.method["settings"]``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from scenewright import __version__
from scenewright.blas_threads import blas_threads_limited
from scenewright.errors import InputError
from scenewright.library.categories import category_info
from scenewright.methods.base import Method
from scenewright.methods.layout.arrange import ArrangeSettings, arrange
from scenewright.methods.layout.consensus import ConsensusSettings, group_consensus
from scenewright.methods.layout.depth_fit import (DepthFitSettings, camera_record, condition_depth, contact_range,
                                                  settings_for_run, small_reference_size)
from scenewright.methods.layout.extent import (TOP_BAND_M, cap_seen_height, cover_seen, depth_to_wall, fit_extent,
                                                fit_seen_top, flat_top_spans)
from scenewright.methods.layout.features import make_extractor
from scenewright.methods.layout.floor_pose import (FloorPoseSettings, curves_to_read_finely, face_partners,
                                                  placement_disagrees, placement_points, pose_on_floor,
                                                  scene_scale, shortlist_at, surface_misfit, with_scale_curve,
                                                  world_room_yaw)
from scenewright.methods.layout.labels import label_min_footprint, map_label
from scenewright.methods.layout.photometric import PhotometricSettings, estimate_colour_transform
from scenewright.methods.layout.pose import (PoseSettings, RenderScorer, category_weight, nudge_along_ray,
                                             refine_pose, relative_nudges)
from scenewright.methods.layout.priors import (anchor_cut_end, face_room, face_room_focus, face_tables, fallback_box,
                                               radial_yaws, support_height)
from scenewright.methods.layout.retrieval import (Hypothesis, Query, RetrievalSettings, library_index,
                                                  make_query, retrieve, retrieve_assets)
from scenewright.perception import PerceptionSettings, perceive
from scenewright.progress import make_progress
from scenewright.render import Renderer
from scenewright.scene import Camera, Instance, Scene

STAGES = ("perception", "category", "retrieval", "pose", "graph", "optimize", "export")


@dataclass
class LayoutSettings:
    """Everything that decides a layout result; recorded in ``scene.json`` (method.settings)."""

    seed: int = 0                        # every random choice (perception, retrieval samples)
    features: str = "auto"               # auto | classical | dinov2
    dinov2_weights: str | None = None    # local Dinov2Model folder (features dinov2 or auto)
    scale_trust: float = 0.5              # 0 = catalog size, 1 = observed box (log-space blend)
    scale_bounds: tuple[float, float] = (0.6, 1.6)  # asset scale limits (× catalog size)
    render_refine: bool = True            # render-and-compare pose/asset refinement
    optimize: bool = True                 # the scene-graph layout optimisation (arrange)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    pose: PoseSettings = field(default_factory=PoseSettings)
    consensus: ConsensusSettings = field(default_factory=ConsensusSettings)
    arrange: ArrangeSettings = field(default_factory=ArrangeSettings)
    depth: DepthFitSettings = field(default_factory=DepthFitSettings)   # estimated / relative / no depth
    floor_pose: FloorPoseSettings = field(default_factory=FloorPoseSettings)  # no depth: silhouettes on the floor
    photometric: PhotometricSettings = field(default_factory=PhotometricSettings)  # photo light vs flat renders

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class ObjectResult:
    """Per-object working state through the stages."""

    obj: object                           # perception ObjectObservation
    category: str | None = None
    label_how: str = "unknown"
    hypotheses: list[Hypothesis] = field(default_factory=list)
    chosen: Hypothesis | None = None
    query: Query | None = None
    notes: list[str] = field(default_factory=list)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {s: 0.0 for s in STAGES}

    def __call__(self, stage: str):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.timings[stage] += time.perf_counter() - self.t0
        return _Ctx()


def reconstruct(capture, library, settings: LayoutSettings | None = None, renderer=None,
                progress: bool = False, conditioned: tuple | None = None):
    """Capture + asset library → :class:`scenewright.scene.Scene` (not yet written).

    ``renderer``: a :class:`scenewright.render.Renderer` of ``settings.pose.render_size``
    squared to reuse across calls (made here when None and rendering is on).
    ``conditioned``: (capture with metric depth, depth record, {instance id: asset ids}, colour
    transform or None) to skip the depth conditioning: the no-depth path redoing a scene at a
    corrected scale, each floor object trying only the assets that fitted it best the first time,
    the picture corrected by the first pass's colour calibration (None: calibrated here).
    """
    s = settings or LayoutSettings()
    timer = _Timer()
    index = library_index(library, s.retrieval.n_points, s.seed)
    if len(index) == 0:
        raise InputError(f"{getattr(library, 'root', 'library')}: the asset library is empty")
    if capture.seg is None:
        raise InputError(f"{capture.path}: the layout method needs seg.png (instance masks)")
    extractor = make_extractor(s.features, s.dinov2_weights)

    with timer("perception"):
        # Depth that is not metric (or none) becomes metric here; metric depth passes untouched.
        original = capture
        retrieved: dict = {}      # no depth: the metrology pass's hypotheses per instance
        capture, depth_record = (conditioned[:2] if conditioned
                                 else condition_depth(capture, index, s, extractor, retrieved=retrieved))
        recorded, s = s, settings_for_run(s, depth_record)     # what was asked is what scene.json records
        observation = perceive(capture, PerceptionSettings(seed=s.seed))
    wfc = np.asarray(observation.world_from_camera, float)

    results: list[ObjectResult] = []
    with timer("category"):
        for obj in observation.objects:
            m = map_label(obj.label)
            results.append(ObjectResult(obj=obj, category=m.category, label_how=m.how))
            if obj.box is None:
                small = m.category is not None and category_info(m.category).role == "small"
                obj.box, rests_on = fallback_box(obj, capture, observation, small=small)
                if obj.box is not None:
                    # Nothing measured the size: the category's typical size (the median
                    # catalog size) keeps the size prior neutral; the object counts as partial.
                    # A thing of unknown label resting on another is sized as the small things are.
                    rows = index.categories == m.category
                    sizes = index.sizes[rows] if np.any(rows) else index.sizes
                    obj.box.size = (small_reference_size(index) if m.category is None and rests_on is not None
                                    else np.median(sizes, axis=0))
                    if rests_on is not None:
                        obj.box.centre[1] += obj.box.size[1] / 2      # its bottom where it meets its support
                        results[-1].notes.append("rests_on_support_guess")
                    elif observation.floor is not None and not small:
                        obj.box.centre[1] = obj.box.size[1] / 2     # standing on the floor
                    obj.truncated = True
                results[-1].notes.append("no_depth_box")

    own_renderer = False
    if s.render_refine and renderer is None:
        try:
            renderer = Renderer(s.pose.render_size, s.pose.render_size)
            own_renderer = True
        except Exception as exc:   # no EGL: fall back to geometry + appearance only
            renderer = None
            observation.notes.append(f"render refinement off ({type(exc).__name__}: {exc})")
    scorer = (RenderScorer(renderer, index, capture, wfc, s.pose, walls=observation.walls)
              if (s.render_refine and renderer) else None)
    floor = (_FloorContext(capture, observation, wfc, s, index, renderer, extractor,
                           shortlist=conditioned[2] if conditioned is not None else None,
                           on_estimate=depth_record.get("backbone") == "metrology")
             if scorer is not None and _floor_backbone(depth_record) and s.floor_pose.enabled else None)
    if floor is not None and conditioned is None and s.floor_pose.reuse_metrology_retrieval \
            and depth_record.get("used_as") == "none":
        floor.retrieved = retrieved
    carried = conditioned[3] if conditioned is not None and len(conditioned) > 3 else None
    if carried is not None and carried.size > s.photometric.apply_above:
        capture = _colour_corrected(capture, carried, scorer, floor, s)

    bar = make_progress(progress, transient=True)
    try:
        bar.start()
        task = bar.add_task("layout: retrieval + pose", total=len(results))
        # No depth, first pass: only the floor objects decide the scene's scale, and the scene is
        # redone at it, so the other objects wait for the pass that is kept.
        redo_possible = floor is not None and conditioned is None
        first = [r for r in results if floor.applies(r)] if redo_possible else results
        _retrieve_and_pose(first, capture, observation, wfc, index, extractor, scorer, s, timer,
                           lambda: bar.advance(task), floor)
        metric = capture                 # the picture as it came, with the depth conditioned
        # A redone scene inherits the first pass's colour calibration (its picture is corrected above).
        colour_transform = carried
        if colour_transform is None:
            with timer("pose"):
                colour_transform = estimate_colour_transform(first, capture, scorer, s.photometric, s.seed)
        if redo_possible:
            # Floor objects fit their masks best scaled by the camera height's error: redo the
            # scene once with the synthetic depth (every distance) divided by the scale at
            # which they fit best together, each trying the assets that fitted best there.
            floor_best = [r.hypotheses[0] if r.hypotheses and floor.applies(r) else None for r in results]
            k = scene_scale(floor_best, s.floor_pose)
            curved = [results[i] for i in with_scale_curve(floor_best)]   # floor objects with a scale curve
            single_k, single_curves = None, None
            if k is None and (floor.on_estimate or not s.floor_pose.single_curve_on_estimate_only):
                with timer("pose"):
                    single_k, single_curves = floor.single_curve_scale(curved)
            if single_k is not None:
                # one object's curve, its asset identified by look: read finely about the metrology camera
                record = {**depth_record, "scene_rescaled_by": round(1.0 / single_k, 4),
                          "single_curve": True, "fine_scale_curves": single_curves}
                k = single_k
            elif k is not None:
                # each floor object's score per scale (what the scale rests on), for scene.json
                curves = {str(r.obj.id): {f"{g:.3f}": round(v, 4) for g, v in r.hypotheses[0].extra["scale_curve"].items()}
                          for r in curved}
                record = {**depth_record, "scene_rescaled_by": round(1.0 / k, 4), "scale_curves": curves}
                record["scale_curve_appearance"] = {str(r.obj.id): round(float(r.hypotheses[0].extra.get(
                    "floor_appearance", 0.0)), 4) for r in curved}
                read = curves_to_read_finely([r.hypotheses[0] for r in curved], floor.on_estimate, s.floor_pose)
                if read:
                    with timer("pose"):
                        fine_k, fine_curves = floor.fine_scale([curved[i] for i in read], k)
                    if fine_k is not None:
                        record.update(coarse_scene_rescaled_by=round(1.0 / k, 4),
                                      scene_rescaled_by=round(1.0 / fine_k, 4), fine_scale_curves=fine_curves)
                        k = fine_k
            if k is not None:
                redo = dataclasses.replace(metric, depth=(np.asarray(metric.depth, np.float32) / k))
                shortlist = {int(r.obj.id): shortlist_at(r.hypotheses[0], k, s.floor_pose.redo_assets,
                                                         s.floor_pose.rank_scale_penalty)
                             for r in results if r.hypotheses and floor.applies(r)}
                shortlist = {i: a for i, a in shortlist.items() if a}
                bar.stop()
                scene = reconstruct(original, library, recorded, renderer, progress,
                                    conditioned=(redo, record, shortlist, colour_transform))
                scene.timings_s = {k: round(v + timer.timings.get(k, 0.0), 4) for k, v in scene.timings_s.items()}
                return scene
        if carried is None and colour_transform is not None and colour_transform.size > s.photometric.apply_above:
            # The picture's light is not the renderer's: undo it and look again (retrieval's colour
            # histograms and render-and-compare's colour term compare against flat renders).
            capture = _colour_corrected(capture, colour_transform, scorer, floor, s)
            # Objects whose colours the gain explains keep their pose; the rest (and any not yet
            # posed) look again.
            keep = set(colour_transform.confirmed) if s.photometric.redo == "uncertain" else set()
            redo = [r for r in results if int(r.obj.id) not in keep]
            bar.update(task, completed=len(results) - len(redo), description="layout: retrieval + pose (colour corrected)")
            _retrieve_and_pose(redo, capture, observation, wfc, index, extractor, scorer, s, timer,
                               lambda: bar.advance(task), floor)
        elif first is not results:
            _retrieve_and_pose([r for r in results if not any(r is f for f in first)], capture, observation, wfc,
                               index, extractor, scorer, s, timer, lambda: bar.advance(task), floor)
        if floor is not None and s.floor_pose.camera_refit:
            with timer("pose"):
                depth_record = {**depth_record, "camera_refit": floor.refit_camera(results)}
        if floor is not None:
            with timer("pose"):
                by_id = {int(x.obj.id): x for x in results}
                for r in results:
                    support = floor.support_of(r, by_id)
                    if support is not None:
                        r.hypotheses = floor.pose_on(r, support)
        with timer("pose"):
            groups = group_consensus(results, s.consensus, rescore=lambda r, asset: (
                floor.pose(r, [asset]) if floor is not None and floor.applies(r)
                else _rescore(r, asset, index, extractor, scorer, s)))
            if floor is not None and s.floor_pose.face_partners:
                face_partners(results, index, s.floor_pose)
            face_tables(results, scorer, s.pose)
            face_room(results, observation, scorer, s.pose)
            face_room_focus(results, scorer, s.pose)
            if s.pose.radial_prior:
                radial_yaws(results, wfc, scorer, s.pose, index)
            contact = None
            if depth_record.get("used_as") in ("estimated", "relative") and s.depth.contact_range_max > 0:
                from scenewright.perception.metrology import footings
                contact = footings(capture.seg, list(capture.instance_ids))
            for r in results:
                if r.hypotheses:
                    r.chosen = r.hypotheses[0]
                    if r.chosen.extra.get("extent_fit"):
                        r.notes.append(f"extent_fit_{r.chosen.extra['extent_fit']}")
                    if r.chosen.extra.get("shape_only"):
                        r.notes.append("shape_only")
                    if s.pose.depth_nudge and scorer is not None and not r.chosen.extra.get("floor_pose"):
                        nudge_along_ray(r.chosen, wfc, s.pose.nudge_min_depth)
                    if depth_record.get("used_as") == "given" and _covers_seen(r, s):
                        pts = index.geometry(r.chosen.asset_id).points
                        if cover_seen(r.chosen, r.query.points, pts.min(0), pts.max(0), s.pose.cover_seen_max_growth):
                            r.notes.append("seen_extent_covered")
                    if s.pose.anchor_cut_end and (s.pose.anchor_cut_end_stand_ins or not r.chosen.extra.get("shape_only")):
                        _anchor_cut_end_if_seen(r, observation, capture, wfc, index, scorer, s.pose)
                    if depth_record.get("used_as") == "given" and _fits_wall_depth(r, s):
                        pts = index.geometry(r.chosen.asset_id).points
                        if depth_to_wall(r.chosen, r.query.points, pts.min(0), pts.max(0), observation.walls,
                                         max_gap_m=s.pose.wall_depth_max_gap_m, grow_only=r.query.partial,
                                         shrink_only=not _stand_in(r.chosen)):
                            r.notes.append("depth_to_wall")
                    if depth_record.get("used_as") == "given" and _height_measurable(r, s):
                        pts = index.geometry(r.chosen.asset_id).points
                        if (_above_seen_would_show(r, pts, s.pose.seen_height_cap_visible)
                                and cap_seen_height(r.chosen, _seen_top(r), pts.min(0), pts.max(0),
                                                    slack=s.pose.seen_height_cap_slack)):
                            r.notes.append("seen_height_capped")
                    if depth_record.get("used_as") == "given" and _flat_top_seen(r, index, s.pose):
                        pts = index.geometry(r.chosen.asset_id).points
                        if fit_seen_top(r.chosen, _seen_top(r), pts.min(0), pts.max(0),
                                        s.pose.seen_top_min_change_m, s.pose.seen_top_max_change):
                            r.notes.append("seen_top_fitted")
                    if contact is not None:
                        _range_by_contact(r, contact, index, capture, wfc, observation, s)
        if floor is not None and depth_record.get("backbone") == "metrology" and s.depth.backbone_relative_share > 0:
            chosen = [r for r in results if r.chosen is not None]
            steps = relative_nudges([r.chosen for r in chosen], wfc, s.depth.backbone_relative_share,
                                    s.depth.backbone_relative_max_agreement)
            for i, dz in steps.items():
                chosen[i].notes.append(f"relative_depth_step_{dz:+.3f}m")
    finally:
        bar.stop()
        if own_renderer:
            try:
                renderer.release()
            except Exception:
                pass

    # Instances in the scene's own model, then the scene graph + optimisation on them.
    instances = []
    used: list[str] = []
    for r in results:
        h = r.chosen
        if h is None:
            continue
        rec = library.record(h.asset_id)
        size = np.array([rec.width, rec.height, rec.depth], float) * h.scale
        extra = {"label_match": r.label_how, "flags": list(getattr(r.obj, "flags", [])) + r.notes,
                 "retrieval": {"geometry": round(h.geometry, 4), "appearance": round(h.appearance, 4),
                               "size": round(h.size, 4), "chamfer_m": round(h.chamfer_m, 4),
                               "render": h.extra.get("render")},
                 "candidates": [c.asset_id for c in r.hypotheses[:5]]}
        instances.append(Instance(id=int(r.obj.id), mesh=index.mesh(h.asset_id),
                                  world_from_object=h.world_from_object(), label=r.obj.label,
                                  category=h.category, asset_id=h.asset_id,
                                  size=size.tolist(), score=float(h.score), extra=extra))
        if h.asset_id not in used:
            used.append(h.asset_id)
    bar = make_progress(progress, transient=True)
    try:
        bar.start()
        task = bar.add_task("layout: optimize", total=None)

        def on_step(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)
        # Floor objects placed by their silhouettes agree with the solved camera; walls fitted in an
        # estimate keep what is left of its warp (they would pull and push those objects by it).
        walls = ([] if depth_record.get("backbone") == "metrology" and not s.depth.backbone_walls
                 else None)
        instances, relations, report = arrange(instances, observation, s.arrange, timer, enabled=s.optimize,
                                               progress=on_step, walls=walls)
    finally:
        bar.stop()

    with timer("export"):
        floor = None if observation.floor is None else {"normal": [0.0, 1.0, 0.0], "height": 0.0}
        walls = [{"point": np.asarray(w.point, float).tolist(), "normal": np.asarray(w.normal, float).tolist()}
                 for w in observation.walls]
        scene = Scene(camera=Camera(K=np.asarray(capture.K, float), width=capture.width, height=capture.height,
                                    world_from_camera=wfc),
                      instances=instances, floor=floor, walls=walls, relations=relations,
                      method={"name": "layout", "version": __version__, "settings": recorded.to_json()},
                      attribution=[library.attribution(a) for a in used],
                      extra={"perception": {"flags": list(observation.flags), "notes": list(observation.notes)},
                             "consensus_groups": groups,
                             "colour_transform": None if colour_transform is None else {
                                 **colour_transform.to_json(),
                                 "applied": bool(colour_transform.size > s.photometric.apply_above)},
                             "depth": {**depth_record, **camera_record(wfc)},
                             "optimize": {k: report.get(k) for k in ("colliding_pairs", "unsupported",
                                                                      "not_resting", "sweeps") if k in report}})
    scene.timings_s = {k: round(v, 4) for k, v in timer.timings.items()}
    return scene


def _retrieve_and_pose(results, capture, observation, wfc, index, extractor, scorer, s: LayoutSettings,
                       timer, advance, floor: "_FloorContext | None" = None) -> None:
    """Query, retrieval, render-and-compare and extent fit of every object (fills ``r.hypotheses``).

    ``floor`` (no depth): floor objects are placed by their silhouettes on the floor instead;
    in a scene redone at its corrected scale they try only their shortlisted assets.
    """
    for r in results:
        if r.obj.box is None:
            if "empty_mask" not in r.notes:
                r.notes.append("empty_mask")
            advance()
            continue
        if floor is not None and floor.shortlist and int(r.obj.id) in floor.shortlist and floor.applies(r):
            with timer("pose"):      # the scene redone at its corrected scale: the first pass' best assets
                r.hypotheses = floor.pose(r)
            if not floor.disagrees(r):
                advance()
                continue
        if floor is not None and floor.retrieved.get(int(r.obj.id)) and floor.applies(r):
            with timer("pose"):      # the pass whose scale is corrected: the metrology pass's retrieval
                placed = floor.pose(r, candidates=floor.retrieved[int(r.obj.id)])
            if placed and placed is not r.hypotheses:
                r.hypotheses = placed
                advance()
                continue
        with timer("retrieval"):
            support_y = support_height(r, observation)
            r.query = make_query(r.obj, capture, wfc, extractor, s.retrieval, support_y=support_y, seed=s.seed,
                                 depth=getattr(observation, "depth", None), small=_is_small(r))
            r.query.min_footprint = label_min_footprint(r.obj.label)
            if r.category is None and support_y is not None:
                # Without a category, a box reaching the (seen or guessed) floor stands on it. One
                # that does not may still: its lower part hidden behind a table (nothing is said).
                r.query.on_floor = True
            r.hypotheses = retrieve(r.query, r.category, index, extractor, s.retrieval,
                                    s.scale_trust, s.scale_bounds)
        with timer("pose"):
            placed_on_floor = False
            if floor is not None and floor.applies(r):
                retrieved = r.hypotheses
                r.hypotheses = floor.pose(r)
                placed_on_floor = not floor.disagrees(r)
                if not placed_on_floor:
                    r.hypotheses = retrieved
                    r.notes.append("floor_pose_disagrees_with_depth")
            if not placed_on_floor:
                r.hypotheses = refine_pose(r.obj, r.hypotheses, scorer, s.pose, small=_is_small(r),
                                           radial=_round_category_not_shape(r, index))
                # the library may not hold this object: its nearest assets stretched to what was seen
                r.hypotheses = fit_extent(r.obj, r.query, r.hypotheses, index, scorer, s.pose, s.retrieval,
                                          category_weight(r.obj, s.pose))
        advance()


def _anchor_cut_end_if_seen(r: ObjectResult, observation, capture, wfc, index, scorer, pose: PoseSettings) -> None:
    """:func:`anchor_cut_end`, kept only when the picture does not speak against it: its render may
    score at most ``pose.anchor_cut_end_margin`` below the placement it replaces. The visible end is
    read off the points' 2-98 % range along the wall, which mixed pixels and a back seen past the end
    stretch; the render of what lies inside the image was already fitted (a sofa at 2 cm, silhouette
    IoU 0.98, was moved 11 cm along its wall by it)."""
    before = r.chosen.translation.copy()
    anchor_cut_end(r, observation, capture, wfc, index)
    if scorer is None or pose.anchor_cut_end_margin is None or np.allclose(before, r.chosen.translation):
        return
    anchored = r.chosen.translation.copy()
    placed = _variant_at(r.chosen, before)
    was, now = scorer.score(r.obj, [placed, r.chosen])
    if now["render"] < was["render"] - pose.anchor_cut_end_margin:
        r.chosen.translation = before
        r.notes.remove("cut_end_anchored")
        r.notes.append("cut_end_anchor_not_seen")
    else:
        r.chosen.translation = anchored


def _variant_at(h: Hypothesis, translation) -> Hypothesis:
    """A copy of ``h`` at ``translation`` (for scoring only)."""
    v = dataclasses.replace(h, translation=np.asarray(translation, float).copy(), extra=dict(h.extra))
    return v


class _FloorContext:
    """No depth: what :func:`pose_on_floor` needs for every floor object of one capture
    (the masks' footings, the room's axis turn from the image's lines, a silhouette-and-colour scorer)."""

    def __init__(self, capture, observation, wfc: np.ndarray, s: LayoutSettings, index, renderer, extractor,
                 shortlist: dict | None = None, on_estimate: bool = False):
        from scenewright.perception.lines import line_segments, manhattan_yaw
        self.on_estimate = on_estimate   # the depth is an estimate scaled to the solution (not drawn boxes)
        from scenewright.perception.metrology import footings
        self.capture, self.observation, self.wfc, self.s, self.index = capture, observation, wfc, s, index
        # Once the scene's scale is corrected, assets keep (nearly) their catalog size.
        self.extractor = extractor
        self.shortlist = shortlist       # {instance id: asset ids}: the scene redone at its corrected scale
        self.retrieved: dict = {}        # {instance id: hypotheses}: the metrology pass's retrieval, reused
        self.settings = (dataclasses.replace(s.floor_pose, scales=s.floor_pose.redo_scales) if shortlist is not None
                         else s.floor_pose)
        self.footings = footings(capture.seg, list(capture.instance_ids), hidden_sides=s.depth.hidden_sides)
        fwd = wfc[:3, 2]
        pitch = float(np.arcsin(np.clip(-fwd[1], -1, 1)))
        psi = manhattan_yaw(line_segments(capture.rgb, max_tilt_deg=90.0, seed=s.seed), capture.K, pitch)
        self.room_yaw = None if psi is None else world_room_yaw(psi, wfc)
        silhouette = dataclasses.replace(s.pose, w_depth=0.0)
        self.scorer = RenderScorer(renderer, index, capture, wfc, silhouette, walls=observation.walls)

    def refit_camera(self, results: list[ObjectResult]) -> dict:
        """The camera height refitted to the placed floor objects' top rows (:func:`refit_camera_height`);
        the scene (every hypothesis, the walls) follows about the camera's foot, and the floor objects'
        winners are placed again on their masks' bottoms. Changes the shared camera array in place
        (the scorers and the observation hold it). Returns the record for scene.json."""
        from scenewright.methods.layout.floor_pose import place_on_floor, refit_camera_height, rescale_about_camera
        placed = [(r.hypotheses[0], self.footings[int(r.obj.id)]) for r in results
                  if r.hypotheses and r.hypotheses[0].extra.get("floor_pose") and int(r.obj.id) in self.footings]
        K, width = np.asarray(self.capture.K, float), self.capture.width
        factor, record = refit_camera_height(placed, self.index, K, self.wfc, width, self.settings)
        if factor is None or abs(factor - 1.0) < 1e-4:
            return record
        rescale_about_camera([h for r in results for h in r.hypotheses], self.wfc, factor)
        foot = np.array([self.wfc[0, 3], 0.0, self.wfc[2, 3]])
        for w in self.observation.walls:
            w.point = foot + factor * (np.asarray(w.point, float) - foot)
        self.wfc[1, 3] *= factor
        for h, footing in placed:
            t = place_on_floor(placement_points(self.index, h.asset_id), h.yaw, h.scale,
                               self._footprint(footing), K, self.wfc, 0.0, h.translation[[0, 2]],
                               self.settings.newton_steps, width if self.settings.inframe_rows else None)
            if t is not None and np.all(np.isfinite(t)) and abs(float(h.translation[1])) < 1e-3:
                h.translation = t
        record["camera_height_m"] = round(float(self.wfc[1, 3]), 4)
        return record

    def single_curve_scale(self, curved: list[ObjectResult]) -> tuple[float | None, dict | None]:
        """One floor object has a scale curve (``curved``: the floor objects that have one; too few for
        :func:`scene_scale`): the scene's scale read finely about 1.0 (the metrology camera) when that
        object's best asset looks like it (``floor_pose.single_curve_min_appearance``): (scale or None,
        its fine curve for scene.json)."""
        from scenewright.methods.layout.floor_pose import single_curve_to_read
        if not single_curve_to_read([r.hypotheses[0] for r in curved], self.settings):
            return None, None
        return self.fine_scale(curved, 1.0, min_objects=1)

    def fine_scale(self, curved: list[ObjectResult], k: float, min_objects: int | None = None
                   ) -> tuple[float | None, dict]:
        """The scene's scale read finely about the coarse grid's vertex ``k`` (:func:`fine_scale_curve` of
        every floor object in ``curved``, those whose curve took part; their vertex by :func:`curves_vertex`,
        needing ``min_objects`` curves, default ``rescale_min_objects``): (scale or None,
        {instance id: {scale: score}} for scene.json)."""
        from scenewright.methods.layout.floor_pose import curves_vertex, fine_scale_curve
        K, width = np.asarray(self.capture.K, float), self.capture.width
        curves = {}
        for r in curved:
            c = fine_scale_curve(r.obj, r.hypotheses[0], self._footprint(self.footings[int(r.obj.id)]), self.index,
                                 self.scorer, K, self.wfc, float(support_height(r, self.observation)), k,
                                 self.settings, width if self.settings.inframe_rows else None)
            if c:
                curves[str(r.obj.id)] = c
        fine_k = curves_vertex(list(curves.values()), self.settings, min_objects)
        return fine_k, {i: {f"{g:.4f}": round(v, 4) for g, v in c.items()} for i, c in curves.items()}

    def _footprint(self, footing):
        from scenewright.methods.layout.floor_pose import footprint_of
        return footprint_of(footing, self.capture.width)

    def applies(self, r: ObjectResult) -> bool:
        """A floor-standing object whose mask tells where it meets the floor or how tall it looks."""
        f = self.footings.get(int(r.obj.id))
        return (not _is_small(r) and r.obj.mask is not None and f is not None and (f.bottom_ok or f.top_ok)
                and (r.category is not None or not f.below_id)      # an unknown thing above another stands on it
                and support_height(r, self.observation) is not None)

    def disagrees(self, r: ObjectResult) -> bool:
        """Estimated depth on the metrology backbone: the silhouette placement of ``r`` lies farther
        from where the (scaled) estimate sees the object's points than ``depth.backbone_disagree_share``
        of their distance from the camera, on the floor — a contact row misread (a bottom hidden by
        something in front, a mask merged with its neighbour): the estimate places it instead.
        ``depth.backbone_disagree_by`` "surface": the points' median distance to the placed asset's
        surface against ``backbone_disagree_surface_share`` instead (:func:`surface_misfit`)."""
        share = self.s.depth.backbone_disagree_share
        if share <= 0 or not self.on_estimate or not r.hypotheses or not r.hypotheses[0].extra.get("floor_pose"):
            return False
        h = r.hypotheses[0]
        if self.s.depth.backbone_disagree_by == "surface":
            m = h.world_from_object()
            surface = placement_points(self.index, h.asset_id) @ m[:3, :3].T + m[:3, 3]
            misfit = surface_misfit(surface, getattr(r.obj, "points", None), self.wfc)
            h.extra["surface_misfit"] = None if misfit is None else round(misfit, 4)
            return misfit is not None and misfit > self.s.depth.backbone_disagree_surface_share
        allowance = 0.0
        if self.s.depth.backbone_disagree_footprint:
            size = self.index.sizes[self.index.row[h.asset_id]] * np.asarray(h.scale, float)
            allowance = 0.5 * float(max(size[0], size[2]))
        return placement_disagrees(h.translation, getattr(r.obj, "points", None), self.wfc, share,
                                   allowance_m=allowance)

    def support_of(self, r: ObjectResult, by_id: dict) -> Hypothesis | None:
        """The placed floor object a small thing stands on (its mask's bottom touches that one's mask)."""
        f = self.footings.get(int(r.obj.id))
        if not (_is_small(r) or r.category is None) or f is None or "bottom_cut" in f.flags or not f.below_id:
            return None
        below = by_id.get(int(f.below_id))
        if below is None or not below.hypotheses or not below.hypotheses[0].extra.get("floor_pose"):
            return None
        return below.hypotheses[0]

    def pose_on(self, r: ObjectResult, support: Hypothesis) -> list[Hypothesis]:
        """A small thing placed on its support's top (its lowest row is where it meets it)."""
        from scenewright.methods.layout.floor_pose import Footprint, footprint_of, support_level
        f = self.footings[int(r.obj.id)]
        pts = self.index.geometry(support.asset_id).points
        top = float(support.translation[1] + pts[:, 1].max() * support.scale[1])
        if self.s.floor_pose.support_levels:
            # the surface under the thing's contact pixel (a counter below a mirror, a shelf), not the top
            dense = np.asarray(self.index.library.samples(support.asset_id)[0], float)
            if len(dense) == 0:
                dense = np.asarray(pts, float)
            m = support.world_from_object()
            level = support_level(dense @ m[:3, :3].T + m[:3, 3], f.u, f.v_bottom,
                                  np.asarray(self.capture.K, float), self.wfc)
            top = level if level is not None else top
        fp = footprint_of(f, self.capture.width)
        fp = Footprint(v_bottom=f.v_bottom, v_top=fp.v_top, u_left=fp.u_left, u_right=fp.u_right)
        placed = pose_on_floor(r, f, self.index, self.scorer, self.wfc, np.asarray(self.capture.K, float),
                               self.capture.width, top, self.room_yaw, self.settings, fp=fp,
                               appearance=self.appearance(r))
        if placed is not r.hypotheses and placed and not _over_support(placed[0], support, self.index):
            # the contact row cannot meet that top where the support is (a support far taller than
            # the real one, its top above the camera): the thing keeps where it was
            r.notes.append("support_pose_off_support")
            return r.hypotheses
        return placed

    def pose(self, r: ObjectResult, assets: list[str] | None = None,
             candidates: list[Hypothesis] | None = None) -> list[Hypothesis]:
        """:func:`pose_on_floor` of ``r`` (``candidates``: retrieval hypotheses standing in for ``r.hypotheses``;
        ``r.hypotheses`` unchanged when nothing could be placed)."""
        if candidates is not None:
            kept, r.hypotheses = r.hypotheses, candidates
            placed = self.pose(r, assets)
            r.hypotheses = kept
            return kept if placed is candidates else placed
        return pose_on_floor(r, self.footings[int(r.obj.id)], self.index, self.scorer, self.wfc,
                             np.asarray(self.capture.K, float), self.capture.width,
                             float(support_height(r, self.observation)), self.room_yaw, self.settings,
                             assets=assets or (self.shortlist or {}).get(int(r.obj.id)),
                             polish=self.shortlist is not None or not self.settings.scales,
                             appearance=self.appearance(r),
                             implied_scales=self.shortlist is None and self.settings.scale_by_rows)

    def appearance(self, r: ObjectResult):
        """asset id → the best cosine between its rendered views and the object's crop (0 without)."""
        feature = None
        if r.query is not None:
            feature = r.query.feature
        elif self.extractor is not None and r.obj.mask is not None and r.obj.mask.any():
            r.query = make_query(r.obj, self.capture, self.wfc, self.extractor, self.s.retrieval, seed=self.s.seed,
                                 depth=getattr(self.observation, "depth", None), small=_is_small(r))
            feature = r.query.feature
        if feature is None or self.s.floor_pose.w_appearance <= 0:
            return None

        def cosine(asset_id: str) -> float:
            feats, _, _ = self.index.view_features(asset_id, self.extractor)
            return float(np.max(feats @ feature)) if len(feats) else 0.0
        return cosine


def _over_support(h: Hypothesis, support: Hypothesis, index, margin_m: float = 0.3) -> bool:
    """``h`` stands within its support's footprint (its catalog half-diagonal, scaled, plus ``margin_m``)
    on the floor plane."""
    w, _, d = index.sizes[index.row[support.asset_id]] * np.asarray(support.scale, float)
    reach = 0.5 * float(np.hypot(w, d)) + margin_m
    gap = np.asarray(h.translation, float)[[0, 2]] - np.asarray(support.translation, float)[[0, 2]]
    return float(np.linalg.norm(gap)) <= reach


def _floor_backbone(depth_record: dict) -> bool:
    """Floor objects placed by their silhouettes on the solved floor: no depth, or estimated depth
    scaled to the no-depth solution (``depth.backbone`` "metrology")."""
    return depth_record.get("used_as") == "none" or depth_record.get("backbone") == "metrology"


def _range_by_contact(r: ObjectResult, feet: dict, index, capture, wfc: np.ndarray, observation,
                      s: LayoutSettings) -> None:
    """Estimated depth: a floor object whose mask's bottom is seen (not cut, nothing in front)
    slid along the floor to where its silhouette's lowest row meets that bottom
    (:func:`depth_fit.contact_range`; recorded as ``extra.contact_range``)."""
    h, f = r.chosen, feet.get(int(r.obj.id))
    floor_y = support_height(r, observation)
    if h is None or f is None or not f.bottom_ok or _is_small(r) or floor_y is None:
        return
    if abs(float(h.translation[1]) - floor_y) > 0.02:        # not standing on the floor
        return
    m = h.world_from_object()
    world = index.geometry(h.asset_id).points @ m[:3, :3].T + m[:3, 3]
    k = contact_range(h.translation, world, f.v_bottom, np.asarray(capture.K, float), wfc, s.depth.contact_range_max)
    if k is None:
        r.notes.append("contact_range_unresolved")
        return
    cam = np.asarray(wfc, float)[:3, 3]
    t = np.asarray(h.translation, float).copy()
    t[[0, 2]] = cam[[0, 2]] + k * (t[[0, 2]] - cam[[0, 2]])
    h.translation = t
    h.extra["contact_range"] = round(k, 4)


def _colour_corrected(capture, transform, scorer, floor: "_FloorContext | None", s: LayoutSettings):
    """The capture with its picture divided by the colour ``transform``; the scorers compare against it."""
    capture = dataclasses.replace(capture, rgb=transform.invert(capture.rgb))
    if scorer is not None:
        # shading still differs from the renders' after the gain; edges (off by default,
        # measured worse) would weigh in here
        scorer.capture = capture
        scorer.settings = dataclasses.replace(scorer.settings, w_edges=s.photometric.w_edges)
    if floor is not None:
        floor.capture = capture
        floor.scorer.capture = capture
    return capture


def _rescore(r: ObjectResult, asset_id: str, index, extractor, scorer, s: LayoutSettings):
    """Hypotheses of one object for one given asset (used when a group adopts an asset)."""
    hyps = retrieve_assets(r.query, [asset_id], index, extractor, s.retrieval, s.scale_trust, s.scale_bounds)
    return refine_pose(r.obj, hyps, scorer, s.pose)


def _covers_seen(r: ObjectResult, s: LayoutSettings) -> bool:
    """A partial view's stand-in (no asset looked like the object, or one was stretched) placed on
    its points (the caller asks for metric depth: an estimate's points spread): its seen extent is
    a lower bound it must span (:func:`extent.cover_seen`)."""
    h = r.chosen
    return (s.pose.cover_seen_max_growth > 1.0 and r.query is not None and r.query.partial
            and _stand_in(h) and not h.extra.get("floor_pose")
            and len(r.query.points) >= 10)


def _fits_wall_depth(r: ObjectResult, s: LayoutSettings) -> bool:
    """A stand-in (no asset looked like the object, or one was stretched) placed on its points
    (metric depth: the caller asks), on the floor or a support: :func:`extent.depth_to_wall` may set its depth;
    with ``wall_depth_any_asset`` an asset that looks like the object too when its surface disagrees with
    the depth map (the caller lets it only shrink)."""
    h = r.chosen
    return (s.pose.wall_depth_max_gap_m > 0 and r.query is not None and len(r.query.points) >= 10
            and (_stand_in(h) or (s.pose.wall_depth_any_asset
                                  and _depth_disagrees(h, s.pose.wall_depth_any_asset_max_agreement)))
            and not h.extra.get("floor_pose"))


def _depth_disagrees(h: Hypothesis, max_agreement: float) -> bool:
    """The chosen render's depth agreement is below ``max_agreement`` (not rendered: unknown, so no)."""
    render = h.extra.get("render") or {}
    return "depth" in render and float(render["depth"]) < max_agreement


def _stand_in(h: Hypothesis) -> bool:
    """No asset looked like the object (``shape_only``), or one was stretched to it (``extent_fit``)."""
    return bool(h.extra.get("shape_only") or h.extra.get("extent_fit"))


def _seen_top(r: ObjectResult) -> float:
    """Height of the top of what was seen of ``r`` (its points' 99.8 % quantile, as the box)."""
    return float(np.quantile(np.asarray(r.query.points, float)[:, 1], 0.998))


def _height_measurable(r: ObjectResult, s: LayoutSettings) -> bool:
    """A stand-in (no asset looked like the object, or one was stretched: its catalog height is another
    thing's) for furniture placed on its points on a known support (not small, not of a round
    category: a plant's or a lamp's top is thin, and depth misses it): what was seen of it bounds its
    height from above where the picture sees past it (:func:`_above_seen_would_show`,
    :func:`extent.cap_seen_height`). An asset that is the object keeps its height: a bed's headboard
    whose depth the picture misses is still there (given split: a bed 0.95 m cut to its 0.68 m mattress)."""
    q, h = r.query, r.chosen
    return not (s.pose.seen_height_cap_slack is None or q is None or h is None or len(q.points) < 10
                or not _stand_in(h)
                or not q.fix_y or _is_small(r) or r.category is None
                or category_info(r.category).symmetry == "radial" or h.extra.get("floor_pose"))


def _flat_top_seen(r: ObjectResult, index, pose: PoseSettings) -> bool:
    """Furniture standing on the floor (not small, not of a round category) placed on its points
    (metric depth: the caller asks), whose top is seen from above and is flat — its points' top
    band spans ``pose.seen_top_flat_share`` of what they span along both of the chosen asset's
    floor axes — on an asset whose own top is as flat (:func:`extent.flat_top_spans` on its
    placed samples): a table's, a desk's, a bedside table's top. A chair's or a sofa's back, a
    bed's headboard, a wardrobe's front edge seen from below span a strip only. Its mask's top edge
    need not be its own (``Query.top_seen``): a lamp standing on it hides part of that edge, not
    the height of the top around it. Where the top band's heights spread more than
    ``pose.seen_top_max_spread_m`` (noisy depth), the seen top is not one height: no."""
    q, h = r.query, r.chosen
    if (pose.seen_top_flat_share <= 0 or q is None or h is None or len(q.points) < 20 or not q.fix_y
            or _is_small(r) or r.category is None
            or category_info(r.category).symmetry == "radial" or h.extra.get("floor_pose")
            or q.cam_pos[1] <= _seen_top(r)):
        return False
    if not flat_top_spans(q.points, h.yaw, share=pose.seen_top_flat_share)[[0, 2]].all():
        return False
    heights = np.asarray(q.points, float)[:, 1]
    top = heights[heights >= heights.max() - TOP_BAND_M]    # flat_top_spans' band
    if 1.4826 * float(np.median(np.abs(top - np.median(top)))) > pose.seen_top_max_spread_m:
        return False                                        # noisy depth: the top quantile overshoots
    m = h.world_from_object()
    samples = np.asarray(index.geometry(h.asset_id).points, float)
    world = samples @ m[:3, :3].T + m[:3, 3]
    return bool(flat_top_spans(world, h.yaw, share=pose.seen_top_flat_share)[[0, 2]].all())


def _above_seen_would_show(r: ObjectResult, asset_points: np.ndarray, share: float, margin_m: float = 0.05,
                           min_samples: int = 5) -> bool:
    """Whether at least ``share`` of the chosen asset's surface samples above what was seen of ``r``
    (by ``margin_m``) project inside the image with nothing observed in front of them: where they
    would be, the picture sees past them, so the asset is taller than the thing. A chair cut by the
    border whose back lies outside the image, or a cabinet behind a taller one, says nothing."""
    from scenewright.methods.layout.retrieval import expected_visible
    h, view = r.chosen, r.query.view
    if view is None:
        return False
    m = h.world_from_object()
    world = np.asarray(asset_points, float) @ m[:3, :3].T + m[:3, 3]
    upper = world[world[:, 1] > _seen_top(r) + margin_m]
    if len(upper) < min_samples:
        return False
    K, camera_from_world, depth = view
    return float(expected_visible(upper, K, camera_from_world, depth).mean()) >= share


def _round_category_not_shape(r: ObjectResult, index) -> bool:
    """The label's category is round (plants, vases, lamps) but the best asset's shape is not."""
    return (r.category is not None and category_info(r.category).symmetry == "radial"
            and bool(r.hypotheses) and index.symmetry(r.hypotheses[0].asset_id) != "radial")


def _is_small(r: ObjectResult) -> bool:
    return r.category is not None and category_info(r.category).role == "small"


class LayoutMethod(Method):
    """Library assets retrieved, posed and arranged (Imaginarium-style); see the module docstring.

    Built once: opens the library, builds its retrieval index and the pose renderer
    (all kept in the Resources), so every capture after the first pays only for itself.
    """

    name = "layout"
    Settings = LayoutSettings
    summary = "library assets, retrieved, posed and arranged"
    needs = ("library",)
    capture_needs = ("seg",)      # depth: metric, estimated, relative or none (LayoutSettings.depth)
    form = ("render_refine",)
    stage = "Retrieving and posing library assets"

    @classmethod
    def reads(cls, settings) -> list:
        return [settings.dinov2_weights] if settings.dinov2_weights else []

    def __init__(self, settings: LayoutSettings | None = None, resources=None, progress: bool = False):
        super().__init__(settings, resources, progress)
        s = self.settings
        self.library = self.resources.library()
        library_index(self.library, s.retrieval.n_points, s.seed)
        self.renderer = None
        if s.render_refine:
            try:
                self.renderer = self.resources.renderer(s.pose.render_size, s.pose.render_size)
            except Exception as exc:    # no EGL here: reconstruct falls back by itself
                self.notes.append(f"no renderer ({type(exc).__name__}: {exc})")

    def warm(self, full: bool = False) -> None:
        """``full``: every asset's surface-sample tree, view descriptors (this method's
        extractor) and shape symmetry, which the index otherwise fills in on first use
        (~50 ms per asset on one core; 481 assets ≈ 36 s). Runs outside the Resources'
        lock, so a request arriving meanwhile is not held up (filling the same entry
        twice is harmless: both threads compute the same value)."""
        if not full:
            return
        s = self.settings
        index = library_index(self.library, s.retrieval.n_points, s.seed)
        extractor = make_extractor(s.features, s.dinov2_weights)
        for asset_id in list(index.ids):
            index.geometry(asset_id)
            index.view_features(asset_id, extractor)
            index.symmetry(asset_id)

    def reconstruct(self, capture):
        self.check_capture(capture)
        with blas_threads_limited():
            return reconstruct(capture, self.library, self.settings, renderer=self.renderer, progress=self.progress)
