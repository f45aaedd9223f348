"""The offscreen renderer: colour, instance ids and metric depth in one pass.

Pixel conventions (exact, tested):

- Image coordinates are continuous: pixel ``(row i, column j)`` covers
  ``u ∈ [j, j+1), v ∈ [i, i+1)`` and is sampled at its centre ``(j + 0.5, i + 0.5)``. A
  camera-frame point ``X`` (OpenCV: x right, y down, z forward) projects to
  ``(u, v, 1) ∝ K X``; it is drawn at pixel ``(floor(v), floor(u))``. With this convention
  ``cx = W / 2`` is the image centre (as in ``capture.intrinsics_from_hfov``) and scaling an
  image by ``s`` scales ``K``'s first two rows by ``s``.
- ``depth`` is the camera-frame z of the surface hit through the pixel centre, in metres
  (linear, not the z-buffer), NaN where nothing was drawn.
- ``instance_ids`` come from an int32 render target: never blended, never antialiased.

Rows are rendered top-down (clip y grows with image v), so the framebuffer is read as is.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import trimesh

from scenewright.errors import InputError
from scenewright.render.gl import GpuMesh, get_state
from scenewright.render.meshprep import MAX_TEXTURE_SIDE, PreparedMesh


@dataclass
class RenderItem:
    """One mesh to draw: ``mesh`` in its object frame, ``world_from_object`` (4, 4) places it,
    ``instance_id`` (int32, 0 = background) is written to ``RenderResult.instance_ids``."""

    mesh: trimesh.Trimesh | PreparedMesh
    world_from_object: np.ndarray = field(default_factory=lambda: np.eye(4))
    instance_id: int = 1


@dataclass
class RenderResult:
    """``rgb`` (H, W, 3) uint8; ``instance_ids`` (H, W) int32, 0 = none;
    ``depth`` (H, W) float32 metres along the camera z axis, NaN where empty;
    ``timings_s``: upload, draw, read."""

    rgb: np.ndarray
    instance_ids: np.ndarray
    depth: np.ndarray
    timings_s: dict = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool: something was drawn."""
        return np.isfinite(self.depth)


@dataclass
class RenderSettings:
    """Shading of the preview colours (ids and depth do not depend on these).

    Lambert shading: ``ambient + headlight * max(n·v, 0) + key * max(n·l, 0)`` times the
    material colour, ``v`` = -z (along the optical axis, towards the camera; surfaces are
    two-sided, their normal turned to the viewer), ``l`` = ``key_direction`` (camera frame,
    OpenCV axes: the default comes from above, left and behind the camera).
    """

    ambient: float = 0.35
    headlight: float = 0.45
    key: float = 0.35
    key_direction: tuple[float, float, float] = (-0.35, -0.8, -0.5)
    default_color: tuple[float, float, float, float] = (0.7, 0.7, 0.7, 1.0)   # meshes without material
    background_color: tuple[int, int, int] = (0, 0, 0)     # rgb where nothing is drawn (no background)
    cache_meshes: bool = True        # keep GPU buffers per mesh object between renders
    # Largest texture side uploaded (bigger ones are downsampled first). Small renders of a
    # whole object never sample an atlas's finest mip levels, and building those levels is
    # most of a cold upload's time.
    max_texture_side: int = MAX_TEXTURE_SIDE

    def to_json(self) -> dict:
        return asdict(self)


def clip_from_camera(K: np.ndarray, width: int, height: int, near: float, far: float) -> np.ndarray:
    """(4, 4) OpenGL clip matrix for an OpenCV camera with intrinsics ``K`` (3, 3), in pixels.

    Maps camera ``(x, y, z)`` to NDC ``x = 2u/W - 1``, ``y = 2v/H - 1`` (v grows downwards, so
    framebuffer row i is image row i), and ``z`` in [near, far] to [-1, 1].
    """
    K = np.asarray(K, np.float64)
    fx, s, cx = K[0]
    _, fy, cy = K[1]
    P = np.zeros((4, 4))
    P[0] = [2 * fx / width, 2 * s / width, 2 * cx / width - 1, 0]
    P[1] = [0, 2 * fy / height, 2 * cy / height - 1, 0]
    P[2] = [0, 0, (far + near) / (far - near), -2 * far * near / (far - near)]
    P[3] = [0, 0, 1, 0]
    return P


def project_points(K: np.ndarray, camera_from_world: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) world points → (N, 2) continuous pixel coordinates (u, v) (see module docstring)."""
    p = np.asarray(points, float) @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    uvw = p @ np.asarray(K, float).T
    return uvw[:, :2] / uvw[:, 2:3]


def _mat4_bytes(m: np.ndarray) -> bytes:
    # GLSL matrices are column-major.
    return np.asarray(m, np.float32).T.tobytes()


def _check_matrix(name: str, m, shape) -> np.ndarray:
    arr = np.asarray(m, np.float64)
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise InputError(f"renderer: {name} must be a finite {shape} matrix, got shape {arr.shape}")
    return arr


class Renderer:
    """Offscreen renderer of fixed size ``width`` × ``height`` pixels.

    Shares the process-wide EGL context and mesh cache (``scenewright.render.gl``); owns only
    its framebuffer, which :meth:`release` frees.
    """

    def __init__(self, width: int, height: int, settings: RenderSettings | None = None) -> None:
        width, height = int(width), int(height)
        if not (1 <= width <= 16384 and 1 <= height <= 16384):
            raise InputError(f"renderer: size {width}x{height} is outside 1..16384 pixels")
        self.width, self.height = width, height
        self.settings = settings or RenderSettings()
        self._fbo = None
        self._targets: list = []
        # The last camera's inverse, by the bytes of its world_from_camera: render-and-compare renders
        # hundreds of hypotheses from one camera, and a LAPACK 4x4 inverse per render cost a third of
        # the renderer's own (Python-side) time on a bench with multithreaded OpenBLAS.
        self._camera_inverse: tuple[bytes, np.ndarray] | None = None
        self._clip: tuple[tuple, bytes] | None = None

    # -- framebuffer ------------------------------------------------------------------
    def _framebuffer(self):
        if self._fbo is None:
            state = get_state()
            ctx, size = state.ctx, (self.width, self.height)
            color = ctx.renderbuffer(size, 4)                    # RGBA8
            ids = ctx.renderbuffer(size, 1, dtype="i4")          # R32I
            depth = ctx.renderbuffer(size, 1, dtype="f4")        # R32F, linear camera z
            zbuf = ctx.depth_renderbuffer(size)
            self._targets = [color, ids, depth, zbuf]
            self._fbo = ctx.framebuffer(color_attachments=[color, ids, depth], depth_attachment=zbuf)
        return self._fbo

    def release(self) -> None:
        """Free this renderer's framebuffer (cached meshes stay for other renderers)."""
        if self._fbo is None:
            return
        with get_state().current():
            for obj in [self._fbo, *self._targets]:
                obj.release()
        self._fbo, self._targets = None, []

    def __del__(self) -> None:
        # A renderer dropped without release(): free its framebuffer at the next frame
        # (__del__ may run on any thread, or during interpreter shutdown).
        try:
            if self._fbo is not None:
                from scenewright.render import gl
                if gl._STATE is not None:
                    gl._STATE.defer_release([self._fbo, *self._targets])
        except Exception:
            pass

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _camera_from_world(self, world_from_camera: np.ndarray) -> np.ndarray:
        """``inv(world_from_camera)``, the last camera's kept (the same array, bit for bit)."""
        key = world_from_camera.tobytes()
        if self._camera_inverse is None or self._camera_inverse[0] != key:
            self._camera_inverse = (key, np.linalg.inv(world_from_camera))
        return self._camera_inverse[1]

    def _clip_bytes(self, K: np.ndarray, near: float, far: float) -> bytes:
        """The shader's ``clip_from_camera`` bytes, the last camera's kept (the same bytes): the
        hypotheses of one window share its K."""
        key = (K.tobytes(), near, far)
        if self._clip is None or self._clip[0] != key:
            self._clip = (key, _mat4_bytes(clip_from_camera(K, self.width, self.height, near, far)))
        return self._clip[1]

    # -- mesh cache -------------------------------------------------------------------
    def upload(self, mesh: trimesh.Trimesh) -> None:
        """Upload ``mesh`` now (otherwise done on first render); a no-op if cached."""
        get_state().get(mesh, cache=True, max_texture_side=self.settings.max_texture_side)

    @staticmethod
    def forget(mesh: trimesh.Trimesh) -> None:
        """Drop the cached GPU buffers of ``mesh``."""
        get_state().forget(mesh)

    # -- rendering --------------------------------------------------------------------
    def render(self, items: list[RenderItem], K: np.ndarray, world_from_camera: np.ndarray,
               background: np.ndarray | None = None, near: float = 0.05,
               far: float = 100.0) -> RenderResult:
        """Render ``items`` seen by the camera ``K`` (3, 3) at ``world_from_camera`` (4, 4, OpenCV).

        ``background`` (H, W, 3) uint8 shows where nothing is drawn. Surfaces closer than
        ``near`` or farther than ``far`` (metres along z) are clipped.
        """
        K = _check_matrix("K", K, (3, 3))
        # K's last row must be (0, 0, 1) within np.allclose's tolerances (atol 1e-8, rtol 1e-5 of 1),
        # written out: allclose's own checks cost more than the rest of this validation
        if (K[0, 0] <= 0 or K[1, 1] <= 0 or abs(K[2, 0]) > 1e-8 or abs(K[2, 1]) > 1e-8
                or abs(K[2, 2] - 1.0) > 1e-8 + 1e-5):
            raise InputError(f"renderer: K must be a pinhole matrix [[fx,s,cx],[0,fy,cy],[0,0,1]] "
                             f"with fx, fy > 0, got {K.tolist()}")
        world_from_camera = _check_matrix("world_from_camera", world_from_camera, (4, 4))
        if not 0 < near < far:
            raise InputError(f"renderer: need 0 < near < far, got near={near}, far={far}")
        if background is not None:
            background = np.asarray(background)
            if background.shape != (self.height, self.width, 3) or background.dtype != np.uint8:
                raise InputError(f"renderer: background must be ({self.height}, {self.width}, 3) uint8, "
                                 f"got {background.shape} {background.dtype}")
        timings = {}
        t0 = time.perf_counter()
        state = get_state()
        settings = self.settings
        meshes = []
        for item in items:
            if item.mesh is None:
                continue
            if not isinstance(item.mesh, (trimesh.Trimesh, PreparedMesh)):
                raise InputError(f"renderer: instance {item.instance_id}: mesh is a "
                                 f"{type(item.mesh).__name__}, expected trimesh.Trimesh or PreparedMesh")
            if not -2**31 <= int(item.instance_id) < 2**31:
                raise InputError(f"renderer: instance id {item.instance_id} does not fit int32")
            if (item.mesh.n_triangles if isinstance(item.mesh, PreparedMesh) else len(item.mesh.faces)) > 0:
                meshes.append(item)
        # The whole frame holds the context (current on this thread) and the lock.
        with state.current() as ctx:
            gpus: list[tuple[RenderItem, GpuMesh]] = [
                (item, state.get(item.mesh, cache=settings.cache_meshes,
                                 max_texture_side=settings.max_texture_side)) for item in meshes]
            t1 = time.perf_counter()
            timings["upload"] = t1 - t0
            fbo = self._framebuffer()
            fbo.use()
            ctx.viewport = (0, 0, self.width, self.height)
            fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            ctx.enable_only(ctx.DEPTH_TEST)               # no culling: draw both sides
            camera_from_world = self._camera_from_world(world_from_camera)
            clip = self._clip_bytes(K, near, far)
            key = np.asarray(settings.key_direction, np.float64)
            key = tuple(key / np.linalg.norm(key))
            lights = (settings.ambient, settings.headlight, settings.key)
            ready = set()                                 # programs given this frame's uniforms
            for item, gpu in gpus:
                prog = gpu.program
                if id(prog) not in ready:
                    prog["clip_from_camera"].write(clip)
                    prog["key_direction"].value = key
                    prog["light_weights"].value = lights
                    ready.add(id(prog))
                cfo = camera_from_world @ _check_matrix(
                    f"world_from_object of instance {item.instance_id}", item.world_from_object, (4, 4))
                prog["camera_from_object"].write(_mat4_bytes(cfo))
                if gpu.smooth:
                    lin = cfo[:3, :3]
                    normal = np.linalg.inv(lin).T if abs(np.linalg.det(lin)) > 1e-18 else np.eye(3)
                    prog["normal_matrix"].write(np.asarray(normal, np.float32).T.tobytes())
                prog["instance_id"].value = int(item.instance_id)
                base = gpu.base_color if gpu.has_material else settings.default_color
                prog["base_color"].value = tuple(float(c) for c in base)
                if gpu.alpha_cutoff > 0:
                    prog["alpha_cutoff"].value = float(gpu.alpha_cutoff)
                if gpu.texture is not None:
                    gpu.texture.use(0)
                gpu.vao.render()
            t2 = time.perf_counter()
            timings["draw"] = t2 - t1
            w, h = self.width, self.height
            rgba = np.frombuffer(fbo.read(components=4, attachment=0), np.uint8).reshape(h, w, 4)
            ids = np.frombuffer(fbo.read(components=1, attachment=1, dtype="i4"),
                                np.int32).reshape(h, w).copy()
            depth = np.frombuffer(fbo.read(components=1, attachment=2, dtype="f4"),
                                  np.float32).reshape(h, w).copy()
            if not settings.cache_meshes:
                for _, gpu in gpus:
                    gpu.release()
        # Drawn surfaces have z >= near > 0; the cleared target holds 0.
        empty = ~(depth > 0)
        depth[empty] = np.nan
        ids[empty] = 0
        rgb = np.ascontiguousarray(rgba[..., :3])
        if background is not None:
            rgb[empty] = background[empty]
        elif any(settings.background_color):
            rgb[empty] = np.asarray(settings.background_color, np.uint8)
        timings["read"] = time.perf_counter() - t2
        return RenderResult(rgb=rgb, instance_ids=ids, depth=depth, timings_s=timings)
