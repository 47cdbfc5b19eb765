"""What every library folder shares: the project's error types and the option field helper."""

from .errors import (
    EXIT_BAD_INPUT,
    EXIT_BUDGET,
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BadInput,
    BudgetExceeded,
    ConfigError,
    CowestError,
    ServiceUnavailable,
    StoreFailed,
    check_run_name,
    did_you_mean,
    store_failure,
)
from .options import copy_as, option

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BUDGET",
    "EXIT_FAILURES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "BadInput",
    "BudgetExceeded",
    "ConfigError",
    "CowestError",
    "ServiceUnavailable",
    "StoreFailed",
    "check_run_name",
    "store_failure",
    "copy_as",
    "did_you_mean",
    "option",
]
