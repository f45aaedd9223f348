"""scenewright: one image of a room (or a sentence) → a compositional 3D scene."""

__version__ = "0.1.0"

from scenewright.errors import InputError, ScenewrightError  # noqa: E402,F401
