"""Model specs, the bundled offline model, local and OpenAI-compatible chat models."""

from .base import ChatModel, Generation, Messages, ModelCallError, Outcome, RequestPolicy, Sampling
from .bundled import BUNDLED_NAME, bundled_model_dir
from .checks import check_specs
from .engines import ENGINE_HELP, WeakEngine
from .registry import clear_models, get_model
from .settings import ModelSettings
from .spec import ModelSpec, ModelSpecError

__all__ = [
    "BUNDLED_NAME",
    "ENGINE_HELP",
    "WeakEngine",
    "ChatModel",
    "Generation",
    "Messages",
    "ModelCallError",
    "Outcome",
    "RequestPolicy",
    "ModelSpec",
    "ModelSettings",
    "ModelSpecError",
    "Sampling",
    "bundled_model_dir",
    "check_specs",
    "clear_models",
    "get_model",
]
