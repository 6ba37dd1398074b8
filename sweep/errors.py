"""The one error type for bad user input (config, CLI arguments, files).

The CLIs print it as one line naming the field and the value and exit with status 2.
"""


class InputError(ValueError):
    """Bad input, named by the field it is in.

    Parameters
    ----------
    field : str
        Where the bad value is, e.g. ``"grid.s"`` or ``"--workers"``.
    value : object
        The offending value (shown with ``repr``).
    problem : str
        What is wrong with it.
    """

    def __init__(self, field, value, problem):
        self.field, self.value, self.problem = field, value, problem
        super().__init__(f"{field} = {value!r}: {problem}")
