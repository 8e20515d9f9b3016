"""One thing wrong with what the user wrote, as data: where it is (its key path) and what is wrong.

The config check, the dataset formats and the grids report Problems. A Problem is also the line a user
reads ("experiments.beans-2.trainable: unknown unit ..."), made once from its parts, so that it joins
and prints as text; code that must know where a problem is (the grids, which name their experiments'
problems by the grid's key) reads `path` and `message`, never the text.
"""

from __future__ import annotations


class Problem(str):
    """`path`: the keys from the top of the file to the value at fault, each one key (an experiment's
    name may hold dots, a grid's axis is one key such as "optimizer.learning_rate"); empty for the file
    as a whole. `message`: what is wrong, and what to do."""

    path: tuple[str, ...]
    message: str

    def __new__(cls, path: tuple[str, ...], message: str):
        path = tuple(str(part) for part in path)
        problem = super().__new__(cls, f"{'.'.join(path) or '(top level)'}: {message}")
        problem.path, problem.message = path, message
        return problem

    def __reduce__(self):
        return Problem, (self.path, self.message)


def at(*path, message: str) -> Problem:
    """A Problem at the key path `path` (parts converted to text: list indices and seeds are numbers)."""
    return Problem(path, message)
