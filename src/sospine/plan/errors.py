"""The one error a plan raises: a configuration that cannot run, in one line."""


class PlanError(ValueError):
    """A configuration the workflow cannot run: one line naming the key or path."""
