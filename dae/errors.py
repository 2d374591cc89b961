"""The error a user can fix: the CLI prints it as one line, without a traceback."""


class UserError(Exception):
    """An error the user can fix; ``str()`` is one line saying what was expected, what came
    and what to do."""
