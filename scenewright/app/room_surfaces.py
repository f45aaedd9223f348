"""The room surfaces the web page shows: :mod:`scenewright.export.room` is their one builder."""

from scenewright.export.room import (CEILING_RGBA, FLOOR_RGBA, WALL_RGBA, RoomSettings, clip_polygon,  # noqa: F401
                                     room_surfaces, scene_extent_xz)
