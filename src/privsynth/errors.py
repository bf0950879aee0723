"""One exception family. Messages say what was wrong and what to do; the CLI prints them as one line."""

from __future__ import annotations


class PrivsynthError(Exception):
    """Base class of every error privsynth raises on purpose (bad input, bad files, bad parameters)."""


class InputError(PrivsynthError):
    """The data given to privsynth cannot be used as it is (missing, empty, malformed)."""


class SchemaError(PrivsynthError):
    """A schema file, or the data measured against it, is inconsistent. Lists every problem at once."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class ModelFileError(PrivsynthError):
    """A model file is missing, corrupt, foreign, or from a newer format version."""


class ParameterError(PrivsynthError):
    """An engine name or parameter, or a sampling request, is not valid."""


class UndertrainedWarning(UserWarning):
    """A fit stopped on its time limit while the model was still improving: more time would give a better model."""
