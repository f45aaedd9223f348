"""The layout method: library assets retrieved, posed and arranged from one capture.

>>> from scenewright import Resources, get_method, load_capture
>>> from scenewright.methods.layout import LayoutSettings
>>> method = get_method("layout")(LayoutSettings(seed=0), Resources(library=LIBRARY))
>>> scene = method.reconstruct(load_capture(BENCH_CAPTURE))
>>> scene.method["name"], len(scene.instances) > 0
('layout', True)
"""

from scenewright.methods.layout.pipeline import LayoutMethod, LayoutSettings, reconstruct

__all__ = ["LayoutMethod", "LayoutSettings", "reconstruct"]
