"""Masks from boxes: Segment Anything (SAM, or SAM 2 where the folder holds one), lazily loaded.

``segment(rgb, boxes) -> (masks, scores)``: one mask per box (the best of SAM's three
proposals by predicted IoU), at the image's size. :func:`masks_to_seg` then makes them
non-overlapping: a pixel claimed by several masks goes to the one with the higher score.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Segmenter(Protocol):
    name: str
    identity: dict

    def segment(self, rgb: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8, (N, 4) xyxy pixel boxes → ((N, H, W) bool masks, (N,) scores in [0, 1])."""
        ...


def masks_to_seg(masks: np.ndarray, scores: np.ndarray, min_pixels: int = 1) -> tuple[np.ndarray, list[int]]:
    """(N, H, W) bool masks → ((H, W) int32 seg, kept mask indices).

    Masks are painted best score first, each taking only unclaimed pixels; a mask left with
    fewer than ``min_pixels`` pixels is dropped. Ids are 1, 2, … in the order of ``kept``.
    """
    seg = np.zeros(masks.shape[1:], np.int32)
    kept: list[int] = []
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        take = masks[i] & (seg == 0)
        if int(take.sum()) >= min_pixels:
            kept.append(int(i))
            seg[take] = len(kept)
    return seg, kept


class SamSegmenter:
    """SAM / SAM 2 through transformers (``SamModel`` + ``SamProcessor`` or the Sam2 pair)."""

    name = "segment-anything"

    def __init__(self, folder: str | os.PathLike, device: str = "cpu", boxes_per_batch: int = 16):
        self.folder = Path(folder)
        self.device = device
        self.boxes_per_batch = boxes_per_batch
        self._model = self._processor = None
        self._sam2 = False
        self.identity: dict = {"folder": str(self.folder)}

    def _load(self) -> None:
        if self._model is not None:
            return
        import transformers
        from scenewright.perception.hf import config_model_type, load_pretrained
        self._sam2 = config_model_type(self.folder) == "sam2" and hasattr(transformers, "Sam2Model")
        classes = (transformers.Sam2Model, transformers.Sam2Processor) if self._sam2 else \
            (transformers.SamModel, transformers.SamProcessor)
        self._model, self._processor, self.identity = load_pretrained(
            self.folder, *classes, ("sam2",) if self._sam2 else ("sam",), self.device)

    def segment(self, rgb: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch
        from PIL import Image
        self._load()
        h, w = rgb.shape[:2]
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        masks = np.zeros((len(boxes), h, w), bool)
        scores = np.zeros(len(boxes), np.float32)
        image = Image.fromarray(rgb)
        proc = self._processor
        embeddings = None
        for start in range(0, len(boxes), self.boxes_per_batch):
            chunk = boxes[start:start + self.boxes_per_batch]
            inputs = proc(images=image, input_boxes=[chunk.tolist()], return_tensors="pt").to(self.device)
            with torch.inference_mode():
                if embeddings is None:          # the image encoder runs once for all boxes
                    embeddings = self._model.get_image_embeddings(inputs["pixel_values"])
                prompt = {k: v for k, v in inputs.items() if k not in ("pixel_values",)}
                prompt.pop("original_sizes", None)
                prompt.pop("reshaped_input_sizes", None)
                out = self._model(image_embeddings=embeddings, multimask_output=True, **prompt)
            iou = out.iou_scores[0].float().cpu()                            # (n, 3)
            best = iou.argmax(dim=1)
            low = out.pred_masks[0][torch.arange(len(best)), best][:, None]    # (n, 1, h', w') logits
            if self._sam2:
                full = proc.post_process_masks(low[None].cpu(), inputs["original_sizes"].cpu())[0]
            else:
                full = proc.post_process_masks(low[None].cpu(), inputs["original_sizes"].cpu(),
                                               inputs["reshaped_input_sizes"].cpu())[0]
            masks[start:start + len(chunk)] = full[:, 0].numpy().astype(bool)
            scores[start:start + len(chunk)] = iou[torch.arange(len(best)), best].clamp(0, 1).numpy()
        return masks, scores
