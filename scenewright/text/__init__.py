"""Text → scene: a sentence becomes a furnished, plausible room.

``parse_request`` turns a prompt into a :class:`~scenewright.text.request.SceneRequest`
(room type and size, objects with counts and attributes, relations between them),
``arrange`` furnishes a room that satisfies it from the asset library (collision-checked
placement, then the layout optimiser), and ``generate`` writes ordinary scene folders.
Paraphrases are understood with the all-MiniLM-L6-v2 sentence embedding
(:mod:`scenewright.text.embed`), matched against the library's categories and asset names.
"""
