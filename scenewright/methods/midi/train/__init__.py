"""Fine-tuning MIDI on benchmark scenes (``scenewright train midi``; docs/midi-training.md).

- ``data``: bench folders → per instance surface points + normals in MIDI's normalised
  scene frame, the inference image conditioning, cached once (with the frozen encoders'
  outputs: VAE posterior moments, CLIP and DINOv2 embeddings).
- ``objective``: rectified-flow loss with MIDI's sign, logit-normal σ, condition drop,
  padded multi-instance groups.
- ``lora``: peft LoRA on the DiT's attention projections; adapter files and merging.
- ``trainer``: accelerate loop, checkpoints, exact resume, logs, the saved checkpoint folder.

Heavy imports (torch, peft, accelerate) stay inside the submodules.
"""
