"""Open-vocabulary boxes from label text: Grounding DINO from a local ``save_pretrained`` folder.

``detect(rgb, labels) -> list[Detection]``. The labels are joined into Grounding DINO's
prompt (``"sofa. armchair. coffee table."``, split into several prompts when they exceed
the text encoder's length); each query box gets, per label, the highest probability of
that label's tokens. A box is kept when its best token probability reaches
``box_threshold`` and its best label's reaches ``text_threshold`` (the two thresholds of
Grounded-SAM); then boxes of one label overlapping more than ``nms_iou`` are merged
(non-maximum suppression per label), and boxes of different labels overlapping more than
``cross_label_iou`` (one object named twice) keep only the higher score.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from scenewright.errors import InputError


@dataclass
class Detection:
    box: np.ndarray          # (4,) x0, y0, x1, y1 in pixels of the image given to detect()
    label: str
    score: float

    def to_json(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box], "label": self.label, "score": round(self.score, 4)}


@runtime_checkable
class Detector(Protocol):
    name: str
    identity: dict

    def detect(self, rgb: np.ndarray, labels: list[str]) -> list[Detection]:
        """Boxes of the labelled things in (H, W, 3) uint8 ``rgb``, best first."""
        ...


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4), (M, 4) xyxy boxes → (N, M) intersection over union."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    overlaps = box_iou(boxes[order], boxes[order])      # detections are few (≤ queries)
    keep: list[int] = []
    suppressed = np.zeros(len(order), bool)
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= overlaps[i] > iou
    return order[keep]


def merge_detections(dets: list[Detection], nms_iou: float, cross_label_iou: float,
                     max_detections: int) -> list[Detection]:
    """NMS per label, then across labels at ``cross_label_iou``; best first, at most ``max_detections``."""
    if not dets:
        return []
    boxes = np.stack([d.box for d in dets])
    scores = np.array([d.score for d in dets])
    labels = np.array([d.label for d in dets])
    keep = np.concatenate([np.flatnonzero(labels == lab)[nms(boxes[labels == lab], scores[labels == lab], nms_iou)]
                           for lab in dict.fromkeys(labels)])
    keep = keep[nms(boxes[keep], scores[keep], cross_label_iou)]
    return [dets[i] for i in keep[:max_detections]]


def _find(seq: list[int], sub: list[int], start: int) -> int:
    for i in range(start, len(seq) - len(sub) + 1):
        if seq[i:i + len(sub)] == sub:
            return i
    return -1


class GroundingDinoDetector:
    """Grounding DINO via ``AutoModelForZeroShotObjectDetection`` + ``AutoProcessor``; lazy."""

    name = "grounding-dino"

    def __init__(self, folder: str | os.PathLike, device: str = "cpu", box_threshold: float = 0.3,
                 text_threshold: float = 0.25, nms_iou: float = 0.5, cross_label_iou: float = 0.9,
                 max_detections: int = 40):
        self.folder = Path(folder)
        self.device = device
        self.box_threshold, self.text_threshold = box_threshold, text_threshold
        self.nms_iou, self.cross_label_iou, self.max_detections = nms_iou, cross_label_iou, max_detections
        self._model = self._processor = None
        self.identity: dict = {"folder": str(self.folder)}

    def _load(self) -> None:
        if self._model is None:
            import transformers
            from scenewright.perception.hf import load_pretrained
            self._model, self._processor, self.identity = load_pretrained(
                self.folder, transformers.AutoModelForZeroShotObjectDetection, transformers.AutoProcessor,
                ("grounding-dino",), self.device)

    def _prompts(self, labels: list[str]) -> list[list[str]]:
        """Labels grouped so each prompt fits the text encoder (max_text_len tokens with [CLS]/[SEP])."""
        tok = self._processor.tokenizer
        budget = int(getattr(self._model.config, "max_text_len", 256)) - 2
        groups: list[list[str]] = [[]]
        used = 0
        for lab in labels:
            n = len(tok(lab.lower(), add_special_tokens=False)["input_ids"]) + 1      # + "."
            if n > budget:
                raise InputError(f"label {lab!r} is longer than the detector's text limit ({budget} tokens)")
            if used + n > budget:
                groups.append([])
                used = 0
            groups[-1].append(lab)
            used += n
        return groups

    def detect(self, rgb: np.ndarray, labels: list[str]) -> list[Detection]:
        import torch
        from PIL import Image
        self._load()
        if not labels:
            raise InputError("no labels to detect")
        image = Image.fromarray(rgb)
        h, w = rgb.shape[:2]
        tok = self._processor.tokenizer
        found: list[Detection] = []
        for group in self._prompts(labels):
            text = " ".join(f"{lab.lower()}." for lab in group)
            inputs = self._processor(images=image, text=text, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                out = self._model(**inputs)
            ids = inputs["input_ids"][0].tolist()
            spans, cursor = [], 0
            for lab in group:
                sub = tok(lab.lower(), add_special_tokens=False)["input_ids"]
                at = _find(ids, sub, cursor)
                if at < 0:
                    raise InputError(f"{self.folder}: the tokenizer splits the prompt {text!r} unexpectedly")
                spans.append((at, at + len(sub)))
                cursor = at + len(sub)
            probs = out.logits[0].sigmoid().float().cpu().numpy()[:, :len(ids)]         # (Q, tokens)
            per_label = np.stack([probs[:, a:b].max(axis=1) for a, b in spans], axis=1)   # (Q, labels)
            text_tokens = np.zeros(len(ids), bool)
            for a, b in spans:
                text_tokens[a:b] = True
            box_score = probs[:, text_tokens].max(axis=1)
            best = per_label.argmax(axis=1)
            best_score = per_label[np.arange(len(best)), best]
            keep = (box_score >= self.box_threshold) & (best_score >= self.text_threshold)
            cxcywh = out.pred_boxes[0].float().cpu().numpy()
            xyxy = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
            xyxy = np.clip(xyxy * [w, h, w, h], 0, [w, h, w, h])
            for q in np.flatnonzero(keep):
                if xyxy[q, 2] - xyxy[q, 0] >= 1 and xyxy[q, 3] - xyxy[q, 1] >= 1:
                    found.append(Detection(box=xyxy[q], label=group[best[q]], score=float(best_score[q])))
        return merge_detections(found, self.nms_iou, self.cross_label_iou, self.max_detections)
