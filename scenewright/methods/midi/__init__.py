"""MIDI (CVPR 2025 multi-instance diffusion): a clean-room PyTorch reimplementation.

Loads the public checkpoint layout (``VAST-AI/MIDI-3D``) and matches the original
numerically (see ``docs/midi.md``). Entry points: ``pipeline.MIDIPipeline``,
``pipeline.MIDIMethod`` (``scenewright reconstruct --method midi``);
``scenewright models download midi`` (scenewright/models) fetches the checkpoint. Heavy
imports stay in the submodules.
"""
