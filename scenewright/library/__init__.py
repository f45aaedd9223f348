"""The asset library: Sweet Home 3D catalogs (or folders of GLB/OBJ) turned into
normalised meshes with surface samples, voxels and rendered views.

``Library.open(folder)`` reads a built library; ``build_library(out, sources)``
builds one (see ``docs/library.md``).
"""

from scenewright.library.store import FORMAT, AssetRecord, AssetViews, Library

__all__ = ["FORMAT", "AssetRecord", "AssetViews", "Library", "BuildReport", "BuildSettings",
           "build_library"]


def __getattr__(name):
    # the builder pulls in trimesh and scipy: import it only when asked for
    if name in ("build_library", "BuildSettings", "BuildReport"):
        from scenewright.library import build
        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
