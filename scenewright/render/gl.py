"""The one offscreen OpenGL context (moderngl over EGL), the shader program, and the
per-mesh GPU buffer cache.

One context serves the whole process: every :class:`~scenewright.render.Renderer` and any
other part of scenewright that needs OpenGL calls :func:`get_context`. Meshes uploaded once
stay on the GPU until the trimesh object is garbage collected (a ``weakref.finalize``
releases them), so rendering the same meshes from many cameras costs only the draw calls.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import trimesh

from scenewright.errors import ScenewrightError
from scenewright.render.meshprep import (MAX_TEXTURE_SIDE, VERTEX_ATTRIBUTES, VERTEX_FORMAT,
                                         PreparedMesh, prepare_mesh)


class RenderError(ScenewrightError):
    """The offscreen OpenGL context could not be created or used."""


# One shader source, compiled in variants: each optional input (smooth normals, texture
# coordinates, vertex colours) is an interpolated varying, and llvmpipe's per-triangle setup
# cost grows with their number (a third of the frame time on a 100k-triangle scene), so a
# mesh gets the variant with only what it uses.
VERTEX_SHADER = """
uniform mat4 camera_from_object;    // OpenCV camera frame (x right, y down, z forward)
uniform mat4 clip_from_camera;
in vec3 in_position;
out vec3 v_position;
#ifdef SMOOTH
uniform mat3 normal_matrix;         // inverse transpose of camera_from_object's 3x3 part
in vec3 in_normal;
out vec3 v_normal;
#endif
#ifdef TEXTURED
in vec2 in_uv;
out vec2 v_uv;
#endif
#ifdef COLORED
in vec4 in_color;
out vec4 v_color;
#endif
void main() {
    vec4 p = camera_from_object * vec4(in_position, 1.0);
    v_position = p.xyz;
#ifdef SMOOTH
    v_normal = normal_matrix * in_normal;
#endif
#ifdef TEXTURED
    v_uv = in_uv;
#endif
#ifdef COLORED
    v_color = in_color;
#endif
    gl_Position = clip_from_camera * p;
}
"""

FRAGMENT_SHADER = """
uniform vec4 base_color;
uniform float alpha_cutoff;
uniform int instance_id;
uniform vec3 light_weights;          // ambient, headlight, key light
uniform vec3 key_direction;          // unit vector towards the key light, camera frame
in vec3 v_position;
#ifdef SMOOTH
in vec3 v_normal;
#endif
#ifdef TEXTURED
uniform sampler2D base_texture;
in vec2 v_uv;
#endif
#ifdef COLORED
in vec4 v_color;
#endif
layout(location = 0) out vec4 out_color;
layout(location = 1) out int out_id;
layout(location = 2) out float out_depth;
void main() {
    vec4 albedo = base_color;
#ifdef COLORED
    albedo *= v_color;
#endif
#ifdef TEXTURED
    albedo *= texture(base_texture, v_uv);
#endif
#ifdef MASKED
    // only in this variant: a shader that may discard disables llvmpipe's early depth test
    if (albedo.a < alpha_cutoff) discard;
#endif
    // Flat shading from screen-space derivatives of the camera-frame position: the exact
    // face normal without unmerging the mesh.
    vec3 n = cross(dFdx(v_position), dFdy(v_position));
#ifdef SMOOTH
    if (dot(v_normal, v_normal) > 1e-12) n = v_normal;
#endif
    float len = length(n);
    vec3 view = normalize(-v_position);
    n = len > 0.0 ? n / len : view;
    if (dot(n, view) < 0.0) n = -n;  // two-sided: light the side facing the camera
    // Directional headlight along the optical axis: flat faces get one uniform shade.
    float shade = light_weights.x + light_weights.y * max(-n.z, 0.0)
                + light_weights.z * max(dot(n, key_direction), 0.0);
    out_color = vec4(albedo.rgb * shade, 1.0);
    out_id = instance_id;
    out_depth = v_position.z;        // perspective-correct: the exact camera z of the hit
}
"""


def shader_source(source: str, smooth: bool, textured: bool, colored: bool, masked: bool = False) -> str:
    """GLSL 3.30 source of one variant (``#define``s for the optional inputs)."""
    defines = [name for name, on in (("SMOOTH", smooth), ("TEXTURED", textured), ("COLORED", colored),
                                     ("MASKED", masked)) if on]
    return "#version 330\n" + "".join(f"#define {d}\n" for d in defines) + source


@dataclass
class GpuMesh:
    """Buffers of one uploaded mesh. ``key`` detects a mesh changed since upload."""

    vao: object
    program: object
    vbo: object
    ibo: object | None
    texture: object | None
    base_color: np.ndarray
    smooth: bool
    alpha_cutoff: float
    n_triangles: int
    key: tuple
    has_material: bool = True

    def release(self) -> None:
        for obj in (self.vao, self.vbo, self.ibo, self.texture):
            if obj is not None:
                try:
                    obj.release()
                except Exception:   # context already gone at interpreter exit
                    pass


class GpuState:
    """The context, the program and the mesh cache (one per process)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.programs: dict[tuple[bool, bool, bool, bool], object] = {}
        self.meshes: dict[int, dict[int, GpuMesh]] = {}   # id(mesh) → texture side cap → buffers
        self._finalizers: dict[int, weakref.finalize] = {}
        self.lock = threading.RLock()
        # Buffers of collected meshes: released later by a thread holding the context (a
        # finalizer may run in any thread, where the context is not current).
        self._garbage: list = []          # anything with .release()
        self._depth = 0            # nesting of current() (under the lock: one thread at a time)
        self.uploads = 0   # counts uploads (tests and benchmarks read it)
        self.pid = os.getpid()

    @contextlib.contextmanager
    def current(self):
        """Hold the lock with the context current on this thread (EGL contexts are per thread)."""
        with self.lock:
            # Outermost level only: moderngl's __exit__ leaves *no* context current (it does
            # not restore the previous one), so nesting must not enter/exit again.
            outer = self._depth == 0
            if outer:
                self.ctx.__enter__()
            self._depth += 1
            try:
                garbage, self._garbage = self._garbage, []
                for gpu in garbage:
                    gpu.release()
                yield self.ctx
            finally:
                self._depth -= 1
                if outer:
                    self.ctx.__exit__(None, None, None)

    def program(self, smooth: bool, textured: bool, colored: bool, masked: bool = False):
        """The compiled shader variant (cached)."""
        key = (bool(smooth), bool(textured), bool(colored), bool(masked))
        prog = self.programs.get(key)
        if prog is None:
            prog = self.ctx.program(vertex_shader=shader_source(VERTEX_SHADER, *key),
                                    fragment_shader=shader_source(FRAGMENT_SHADER, *key))
            if textured:
                prog["base_texture"].value = 0
            self.programs[key] = prog
        return prog

    # -- mesh cache -------------------------------------------------------------------
    @staticmethod
    def mesh_key(mesh: trimesh.Trimesh) -> tuple:
        # hash(mesh) and hash(mesh.visual) are trimesh's cached hashes, recomputed only after
        # in-place edits (of vertices, faces, colours, uvs); the identity of the visual catches
        # a replaced one.
        try:
            visual = hash(mesh.visual)
        except TypeError:
            visual = None
        return (hash(mesh), id(mesh.visual), visual, len(mesh.vertices), len(mesh.faces))

    def upload(self, prepared: PreparedMesh, key: tuple = ()) -> GpuMesh:
        """Create the GPU buffers of a prepared mesh (not cached)."""
        ctx = self.ctx
        vbo = ctx.buffer(prepared.vertices.tobytes())
        ibo = None if prepared.indices is None else ctx.buffer(prepared.indices.tobytes())
        program = self.program(prepared.smooth, prepared.texture is not None, prepared.colored,
                               prepared.alpha_cutoff > 0)
        vao = ctx.vertex_array(program, [(vbo, VERTEX_FORMAT, *VERTEX_ATTRIBUTES)],
                               index_buffer=ibo, index_element_size=4,
                               skip_errors=True)   # attributes this variant does not read
        texture = None
        if prepared.texture is not None:
            h, w = prepared.texture.shape[:2]
            texture = ctx.texture((w, h), 4, prepared.texture.tobytes(), alignment=1)
            texture.build_mipmaps()
            texture.filter = (ctx.LINEAR_MIPMAP_LINEAR, ctx.LINEAR)
            texture.repeat_x = texture.repeat_y = True
        self.uploads += 1
        return GpuMesh(vao, program, vbo, ibo, texture, prepared.base_color, prepared.smooth,
                       prepared.alpha_cutoff, prepared.n_triangles, key, prepared.has_material)

    def get(self, mesh: trimesh.Trimesh | PreparedMesh, cache: bool = True,
            max_texture_side: int = MAX_TEXTURE_SIDE) -> GpuMesh:
        """The GPU buffers of ``mesh`` with its texture at most ``max_texture_side`` pixels on a
        side: cached by object identity and cap unless ``cache`` is False (then the caller must
        ``release()`` them). A :class:`PreparedMesh` (e.g. a library's precomputed render mesh)
        is uploaded as it is: it was prepared with its own cap."""
        if isinstance(mesh, PreparedMesh):
            key, prepare = ("prepared", id(mesh)), lambda: mesh
        else:
            key = self.mesh_key(mesh)
            prepare = lambda: prepare_mesh(mesh, max_texture_side=max_texture_side)  # noqa: E731
        if not cache:
            with self.current():
                return self.upload(prepare(), key)
        with self.current():
            oid = id(mesh)
            hit = self.meshes.get(oid, {}).get(max_texture_side)
            if hit is not None and hit.key == key:
                return hit
            if hit is not None:          # the mesh was edited since upload
                self.forget_id(oid)
            gpu = self.upload(prepare(), key)
            if oid not in self.meshes:
                self.meshes[oid] = {}
                self._finalizers[oid] = weakref.finalize(mesh, self.forget_id, oid)
            self.meshes[oid][max_texture_side] = gpu
            return gpu

    def forget_id(self, oid: int) -> None:
        # No lock here: a finalizer may run while this thread holds it mid-render (dict pops
        # and list appends are atomic under the GIL).
        self._garbage.extend(self.meshes.pop(oid, {}).values())
        fin = self._finalizers.pop(oid, None)
        if fin is not None:
            fin.detach()

    def defer_release(self, objects) -> None:
        """Release moderngl ``objects`` at the next frame (from any thread, e.g. ``__del__``)."""
        self._garbage.extend(o for o in objects if o is not None)

    def forget(self, mesh: trimesh.Trimesh) -> None:
        """Drop the cached buffers of ``mesh`` (e.g. after editing it in place)."""
        self.forget_id(id(mesh))

    def clear(self) -> None:
        for oid in list(self.meshes):
            self.forget_id(oid)


_STATE: GpuState | None = None
_STATE_LOCK = threading.Lock()

# Rasteriser threads of Mesa's llvmpipe (its ``LP_NUM_THREADS``) when the environment does not
# set them. llvmpipe's default, one per core, costs the small renders of render-and-compare
# (96² windows, three readbacks each) about twice the CPU in thread hand-offs: one rasteriser
# beside the calling thread halved the CPU of the pose stage (1.3 -> 0.65 CPU-s on a 9-object
# bench scene, 2 cores) at no wall-time cost, with the same pixels (llvmpipe's tiles do not
# depend on the thread count). Read once, when the process's context is made.
LLVMPIPE_THREADS = 1


def get_state() -> GpuState:
    """The process-wide :class:`GpuState`, creating the EGL context on first use."""
    global _STATE
    with _STATE_LOCK:
        if _STATE is not None and _STATE.pid != os.getpid():
            # Mesa's llvmpipe keeps its rasteriser threads per process: after a fork the
            # inherited context (and any new one, which shares the same EGL display) hangs on
            # the first draw. Fail clearly instead.
            raise RenderError("the renderer was initialised before this process was forked; "
                              "OpenGL cannot be used in a forked child — use multiprocessing's "
                              "'spawn' (or 'forkserver') start method")
        if _STATE is None:
            try:
                import moderngl
                os.environ.setdefault("LP_NUM_THREADS", str(LLVMPIPE_THREADS))
                ctx = moderngl.create_standalone_context(backend="egl", require=330)
            except Exception as exc:
                raise RenderError(
                    f"cannot create an offscreen OpenGL 3.3 context over EGL ({type(exc).__name__}: "
                    f"{exc}); scenewright renders with Mesa (llvmpipe) and needs libEGL") from None
            _STATE = GpuState(ctx)
        return _STATE


def get_context():
    """The shared moderngl context (created lazily). To issue OpenGL calls with it, hold
    :func:`current_context` (it makes the context current on the calling thread)."""
    return get_state().ctx


def current_context():
    """Context manager: ``with current_context() as ctx: ...`` — the shared context, current
    on this thread and locked against the renderer's other users."""
    return get_state().current()


def gl_info() -> dict:
    """Renderer, version and vendor strings of the shared context (for recorded settings)."""
    state = get_state()
    with state.current() as ctx:
        info = ctx.info
        return {"renderer": info.get("GL_RENDERER"), "version": info.get("GL_VERSION"),
                "vendor": info.get("GL_VENDOR"), "llvmpipe_threads": os.environ.get("LP_NUM_THREADS")}
