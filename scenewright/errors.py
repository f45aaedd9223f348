"""Errors that reach the user as one clear line naming the file and the problem."""


class ScenewrightError(Exception):
    """Base of every error scenewright raises on purpose (the CLI prints it, exit 2)."""


class InputError(ScenewrightError):
    """Bad user input: a missing or malformed file, wrong sizes, absurd parameters."""
