"""The models folder: which learned models scenewright uses, where they live, how to fetch them.

One folder holds every model, one sub-folder per role (``depth``, ``detector``,
``segmenter``, ``dinov2``, ``midi``), each a ``save_pretrained`` folder. Every command
finds it the same way (:func:`~scenewright.models.folder.models_dir`): ``--models DIR``,
else ``$SCENEWRIGHT_MODELS``, else the settings file's ``models`` (``scenewright config``),
else ``~/.cache/scenewright/models``. Nothing is downloaded
at run time: ``scenewright models download NAME`` fetches a model once.
"""

from scenewright.models.folder import MODELS_ENV, default_models_dir, model_folder, models_dir
from scenewright.models.registry import MODELS, ModelSpec

__all__ = ["MODELS", "ModelSpec", "MODELS_ENV", "default_models_dir", "models_dir", "model_folder"]
