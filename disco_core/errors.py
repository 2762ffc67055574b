"""Errors a user can act on. Every message says what was wrong and what to do."""


class DiscoError(RuntimeError):
    """Base class for every error the pack raises on purpose."""


class CheckpointError(DiscoError):
    """A checkpoint file is missing, corrupt, of the wrong kind, or does not match the model."""


class InputError(DiscoError, ValueError):
    """An input (image, mask, pose, option) cannot be used as given."""


class DependencyError(DiscoError, ImportError):
    """An optional dependency or its weights are missing; the message says how to install them."""


class Cancelled(DiscoError):
    """Sampling was stopped by the caller's cancellation check."""
