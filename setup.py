"""The one compiled part: retrieval's exact nearest-sample search over a grid
(scenewright/geometry/_grid_nearest.c). Optional: without a C compiler the package installs and
the searches fall back to the k-d tree (the same answers, slower)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("scenewright.geometry._grid_nearest", ["scenewright/geometry/_grid_nearest.c"],
                             extra_compile_args=["-O3", "-ffp-contract=off"], optional=True)])
