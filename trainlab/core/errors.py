"""One error hierarchy. Every error a user can cause is a TrainlabError: the CLI prints its
message as one paragraph and exits with code 2, never a traceback."""


class TrainlabError(Exception):
    """Base of all errors caused by user input. Message: what was wrong, what was received,
    how to fix it."""

    exit_code = 2


class RecipeError(TrainlabError):
    """A recipe key, value or override is wrong."""


class DataError(TrainlabError):
    """A data file is missing, malformed, or holds values trainlab cannot train on."""


class CheckpointError(TrainlabError):
    """A run directory or checkpoint is missing, truncated or tampered with."""


class RegistryError(RecipeError):
    """An unknown name was asked of a registry."""
