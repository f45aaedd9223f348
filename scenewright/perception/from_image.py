"""A picture → a capture: fill in whatever is missing with learned models, and say what was done.

``perceive_image(image, labels, models, settings) -> (Capture, PerceptionRecord)``.

``image`` is a photo (:class:`~scenewright.perception.image_input.LoadedImage` or an
(H, W, 3) uint8 array) or a partial :class:`~scenewright.capture.Capture`. What it holds
is kept; what it lacks is estimated:

- instances (seg): Grounding DINO boxes for the label text (``labels``, else the library's
  categories), SAM masks in those boxes, made non-overlapping by score;
- labels of given instances without any: the detector's label of the box that best
  covers each mask (unknown when no detector is installed — labels are optional);
- depth: Depth Anything V2 metric, rescaled to the camera when its focal length is given;
- camera: given ``camera.json`` > ``--fov`` > the floor/wall closed form of
  :func:`~scenewright.perception.perceive.perceive` > the depth model's training field of
  view (when it made the depth) > the documented default (61.9°, Imaginarium's camera).

Big photos are reduced twice: the capture to ``max_capture_side`` pixels on its long side
(its K scaled with it), and the image the models see to ``model_max_side``; boxes, masks
and depth are mapped back to the capture's size. The record says, per input, whether it
was given or estimated and by which model (repository, commit or config hash).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from scenewright.capture import DEFAULT_HFOV_DEG, Capture, intrinsics_from_hfov
from scenewright.errors import InputError
from scenewright.perception.image_input import LoadedImage, default_vocabulary


@dataclass
class ImagePerceptionSettings:
    """How missing inputs are estimated. Recorded in perception.json / scene.json."""

    box_threshold: float = 0.30        # Grounding DINO: best token probability of a kept box
    text_threshold: float = 0.25       # … and of its best label's tokens
    nms_iou: float = 0.5               # boxes of one label overlapping more are one object
    cross_label_iou: float = 0.9       # boxes of two labels overlapping more: one object, best label
    max_detections: int = 40
    min_mask_fraction: float = 2e-4    # instances smaller than this share of the image are dropped
    label_match_iou: float = 0.3       # given seg: a detection labels a mask when their boxes overlap this much
    model_max_side: int = 1024         # long side of the image handed to the models (px)
    max_capture_side: int = 2048       # long side of a capture made from a photo (0 = keep the photo's)
    fov_deg: float | None = None       # horizontal field of view when no camera.json is given
    estimate_focal: bool = True        # try the floor/wall closed form when the focal length is unknown
    device: str = "cpu"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


class PerceptionModels:
    """The learned models, found in one models folder and loaded on first use.

    Any of ``depth``/``detector``/``segmenter`` may be passed in directly (anything with the
    :class:`DepthSource` / :class:`Detector` / :class:`Segmenter` interface) to swap a model.
    """

    def __init__(self, root=None, device: str = "cpu", settings: ImagePerceptionSettings | None = None,
                 depth=None, detector=None, segmenter=None):
        from scenewright.models.folder import models_dir
        self.root = models_dir(root)
        self.device = device
        self.settings = settings or ImagePerceptionSettings(device=device)
        self._depth, self._detector, self._segmenter = depth, detector, segmenter

    def has(self, name: str) -> bool:
        return (self.root / name / "config.json").is_file()

    def depth(self):
        if self._depth is None:
            from scenewright.models.folder import model_folder
            from scenewright.perception.metric_depth import DepthAnythingDepth
            self._depth = DepthAnythingDepth(model_folder("depth", self.root), self.device)
        return self._depth

    def detector(self):
        if self._detector is None:
            from scenewright.models.folder import model_folder
            from scenewright.perception.detect import GroundingDinoDetector
            s = self.settings
            self._detector = GroundingDinoDetector(
                model_folder("detector", self.root), self.device, box_threshold=s.box_threshold,
                text_threshold=s.text_threshold, nms_iou=s.nms_iou, cross_label_iou=s.cross_label_iou,
                max_detections=s.max_detections)
        return self._detector

    def segmenter(self):
        if self._segmenter is None:
            from scenewright.models.folder import model_folder
            from scenewright.perception.segment import SamSegmenter
            self._segmenter = SamSegmenter(model_folder("segmenter", self.root), self.device)
        return self._segmenter


@dataclass
class PerceptionRecord:
    """Per input: ``{"source": "given" | "estimated" | …, "by": model identity, …}``."""

    image: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)      # seg, labels, depth, camera
    detections: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def _resize_rgb(rgb: np.ndarray, long_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if long_side <= 0 or max(h, w) <= long_side:
        return rgb
    s = long_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS), np.uint8)


def _resize_nearest(arr: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (h, w) array to (H, W) = size_wh[::-1] (pixel centres aligned)."""
    h, w = arr.shape[:2]
    W, H = size_wh
    rows = np.minimum(((np.arange(H) + 0.5) * h / H).astype(int), h - 1)
    cols = np.minimum(((np.arange(W) + 0.5) * w / W).astype(int), w - 1)
    return arr[rows[:, None], cols[None, :]]


def _mask_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


def _closed_form_focal(capture: Capture, depth: np.ndarray, seg: np.ndarray, labels: dict) -> np.ndarray | None:
    """K from the floor ⟂ walls closed form (perception.perceive with estimate_focal), or None."""
    from scenewright.perception.perceive import PerceptionSettings, perceive
    probe = Capture(rgb=capture.rgb, K=capture.K, seg=seg, depth=depth, labels=labels,
                    camera_is_default=True, path=capture.path)
    try:
        obs = perceive(probe, PerceptionSettings(estimate_focal=True))
    except InputError:
        return None
    return obs.K if obs.focal_estimated else None


def perceive_image(image, labels: list[str] | None, models: PerceptionModels,
                   settings: ImagePerceptionSettings | None = None,
                   seg: np.ndarray | None = None) -> tuple[Capture, PerceptionRecord]:
    """Fill in what ``image`` lacks (see the module docstring); InputError when nothing is found.

    ``seg``: (H, W) instance ids at the photo's (upright) size, for a photo given with a
    segmentation (MIDI's rgb + seg); it replaces a capture's own seg.
    """
    s = settings or models.settings
    rec = PerceptionRecord(settings=s.to_json())
    t_all = time.perf_counter()
    if isinstance(image, Capture):
        cap = dataclasses.replace(image, labels=dict(image.labels))
        if seg is not None:
            cap.seg, cap.labels = seg.astype(np.int32), {}
        where = str(image.path) if image.path is not None else "capture"
        rec.image = {"path": where, "size": [cap.width, cap.height]}
        camera_given = not image.camera_is_default
    else:
        loaded = image if isinstance(image, LoadedImage) else None
        rgb = loaded.rgb if loaded else np.asarray(image, np.uint8)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError(f"image: expected (H, W, 3) uint8, got shape {rgb.shape}")
        where = str(loaded.path) if loaded else "image"
        small = _resize_rgb(rgb, s.max_capture_side)
        h, w = small.shape[:2]
        cap = Capture(rgb=small, K=intrinsics_from_hfov(w, h, DEFAULT_HFOV_DEG), camera_is_default=True,
                      path=loaded.path if loaded else None)
        if seg is not None:
            if seg.shape != rgb.shape[:2]:
                raise InputError(f"{where}: the segmentation is {seg.shape[1]}x{seg.shape[0]}, the image "
                                 f"{rgb.shape[1]}x{rgb.shape[0]}")
            cap.seg = _resize_nearest(seg, (w, h)).astype(np.int32)
        rec.image = {"path": where, "size": [w, h], "upright_size": [rgb.shape[1], rgb.shape[0]],
                     "scale": w / rgb.shape[1]}
        if loaded:
            rec.image.update({"file_mode": loaded.original_mode, "file_size": list(loaded.original_size)})
            rec.notes += loaded.notes
        if small is not rgb:
            rec.notes.append(f"capture reduced from {rgb.shape[1]}x{rgb.shape[0]} to {w}x{h} "
                             f"(max_capture_side {s.max_capture_side})")
        camera_given = False
    H, W = cap.height, cap.width
    work = _resize_rgb(cap.rgb, s.model_max_side)
    wh, ww = work.shape[:2]
    to_capture = np.array([W / ww, H / wh, W / ww, H / wh])
    vocabulary = list(labels) if labels else default_vocabulary()
    labels_from = "--labels" if labels else "default vocabulary (library categories)"

    # Camera first when it is given: the depth model needs the focal length to rescale.
    if camera_given:
        rec.inputs["camera"] = {"source": "given"}
    elif s.fov_deg is not None:
        cap.K = intrinsics_from_hfov(W, H, s.fov_deg)
        cap.camera_is_default = False
        camera_given = True
        rec.inputs["camera"] = {"source": "given", "by": f"--fov {s.fov_deg:g}"}

    # Instances.
    if cap.seg is not None:
        rec.inputs["seg"] = {"source": "given", "instances": len(cap.instance_ids)}
    else:
        t = time.perf_counter()
        detector = models.detector()
        segmenter = models.segmenter()            # both found before any model runs
        dets = detector.detect(work, vocabulary)
        rec.timings_s["detect"] = time.perf_counter() - t
        if not dets:
            raise InputError(f"{where}: no objects found for the labels [{', '.join(vocabulary[:12])}"
                             f"{' …' if len(vocabulary) > 12 else ''}] (box threshold {s.box_threshold}, "
                             f"text threshold {s.text_threshold}); try other --labels or lower "
                             "--box-threshold / --text-threshold")
        t = time.perf_counter()
        boxes = np.stack([d.box for d in dets])
        masks, scores = segmenter.segment(work, boxes)
        min_px = max(1, int(s.min_mask_fraction * wh * ww))
        seg_work, kept = masks_to_seg_scored(masks, scores, dets, min_px)
        rec.timings_s["segment"] = time.perf_counter() - t
        if not kept:
            raise InputError(f"{where}: {len(dets)} boxes found but every mask was smaller than "
                             f"{min_px} pixels; try other --labels")
        cap.seg = _resize_nearest(seg_work, (W, H)).astype(np.int32)
        cap.labels = {}
        for new_id, i in enumerate(kept, start=1):
            cap.labels[new_id] = dets[i].label
        rec.detections = [{**dets[i].to_json(), "id": new_id,
                           "box": [round(float(v), 2) for v in dets[i].box * to_capture],
                           "mask_score": round(float(scores[i]), 4)} for new_id, i in enumerate(kept, start=1)]
        dropped = len(dets) - len(kept)
        if dropped:
            rec.notes.append(f"{dropped} detections dropped (mask covered by better ones or too small)")
        rec.inputs["seg"] = {"source": "estimated", "instances": len(kept),
                             "by": {"detector": detector.identity, "segmenter": segmenter.identity}}
        rec.inputs["labels"] = {"source": "estimated", "vocabulary": vocabulary, "vocabulary_from": labels_from,
                                "by": detector.identity}

    # Labels of given instances.
    if "labels" not in rec.inputs:
        ids = cap.instance_ids
        missing = [i for i in ids if not cap.labels.get(i)]
        if not missing:
            rec.inputs["labels"] = {"source": "given"}
        elif labels and len(labels) == 1:
            for i in missing:
                cap.labels[i] = labels[0]
            rec.inputs["labels"] = {"source": "given", "by": "--labels (one label for every instance)"}
        elif models.has("detector"):
            t = time.perf_counter()
            detector = models.detector()
            dets = detector.detect(work, vocabulary)
            rec.timings_s["label"] = time.perf_counter() - t
            det_boxes = np.stack([d.box * to_capture for d in dets]) if dets else np.zeros((0, 4))
            from scenewright.perception.detect import box_iou
            named = 0
            for i in missing:
                if len(det_boxes):
                    iou = box_iou(_mask_box(cap.seg == i)[None], det_boxes)[0]
                    j = int(np.argmax(iou))
                    if iou[j] >= s.label_match_iou:
                        cap.labels[i] = dets[j].label
                        named += 1
                        continue
                cap.labels.setdefault(i, "")
            rec.inputs["labels"] = {"source": "estimated", "named": named, "of": len(missing),
                                    "vocabulary_from": labels_from, "by": detector.identity}
            if named < len(missing):
                rec.notes.append(f"{len(missing) - named} instances left unlabelled (no detection overlaps "
                                 f"them by IoU ≥ {s.label_match_iou})")
        else:
            rec.inputs["labels"] = {"source": "unknown", "by": None}
            rec.notes.append("instances have no labels and there is no detector model to name them "
                             "(`scenewright models download detector`); pass --labels or instances.json")

    # Depth.
    depth_model_fov = None
    if cap.depth is not None:
        rec.inputs["depth"] = {"source": "given"}
    else:
        t = time.perf_counter()
        source = models.depth()
        pred = source.predict(work)
        import torch
        depth = torch.nn.functional.interpolate(torch.from_numpy(np.nan_to_num(pred, nan=0.0))[None, None],
                                                size=(H, W), mode="bilinear", align_corners=False)[0, 0].numpy()
        depth[depth <= 0] = np.nan
        entry = {"source": "estimated", "by": source.identity}
        if camera_given:
            scale = source.focal_scale(cap.K, W)
            depth *= scale
            entry["rescaled_by"] = round(scale, 6)
            entry["rescale_reason"] = "(fx / W) / (f_train / W_train): the given camera vs the model's training camera"
        else:
            depth_model_fov = source.train_hfov_deg
        cap.depth = depth.astype(np.float32)
        rec.inputs["depth"] = entry
        rec.timings_s["depth"] = time.perf_counter() - t

    # Camera when not given.
    if not camera_given:
        t = time.perf_counter()
        if depth_model_fov is not None:
            cap.K = intrinsics_from_hfov(W, H, depth_model_fov)
            cam = {"source": "estimated", "by": f"depth model's training field of view ({depth_model_fov:g}°)"}
        else:
            cam = {"source": "default", "by": f"default horizontal field of view {DEFAULT_HFOV_DEG:.1f}° "
                                              "(Imaginarium's 30 mm lens on 36 mm)"}
        if s.estimate_focal:
            K = _closed_form_focal(cap, cap.depth, cap.seg, cap.labels)
            if K is not None:
                cap.K = K
                cam = {"source": "estimated", "by": "floor/wall closed form (perception.room_planes)"}
            else:
                rec.notes.append("floor/wall focal estimate not usable (no floor and wall seen, or out of range)")
        cam["hfov_deg"] = round(float(np.degrees(2 * np.arctan(W / 2 / cap.K[0, 0]))), 3)
        cap.camera_is_default = cam["source"] == "default"
        rec.inputs["camera"] = cam
        rec.timings_s["camera"] = time.perf_counter() - t
    rec.inputs["camera"]["K"] = np.asarray(cap.K, float).round(4).tolist()
    rec.timings_s["total"] = time.perf_counter() - t_all
    return cap, rec


def masks_to_seg_scored(masks: np.ndarray, mask_scores: np.ndarray, dets: list, min_pixels: int):
    """Non-overlapping seg from masks ranked by detection score × mask score (both in [0, 1])."""
    from scenewright.perception.segment import masks_to_seg
    rank = np.array([d.score for d in dets]) * np.clip(mask_scores, 1e-3, 1.0)
    return masks_to_seg(masks, rank, min_pixels)
