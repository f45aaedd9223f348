"""Errors that reach the user as one clear line naming the file and the problem."""


class ScenewrightError(Exception):
    """Base of every error scenewright raises on purpose (the CLI prints it, exit 2)."""


class InputError(ScenewrightError):
    """Bad user input: a missing or malformed file, wrong sizes, absurd parameters."""


def one_line_reason(exc: BaseException, limit: int = 400) -> str:
    """A failure as one clean line for a record (batch.json, a status box).

    A :class:`ScenewrightError` is its own message (it names the file); anything else is a
    bug or an unexpected condition and reads ``<ExceptionType>: message``. Line breaks and
    runs of spaces collapse, and the text is cut at ``limit`` characters.
    """
    text = " ".join(str(exc).split())
    if not isinstance(exc, ScenewrightError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
