"""Scenario files (perturb, simulate): YAML validated by a pydantic model, errors with line and field."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ValidationError

from privsynth.errors import ParameterError


def load(path: str | Path, model: type[BaseModel], tagged: str | None = None):
    """`model` validated from the YAML file; every problem named as `line N: field.path: message`. `tagged`
    names a list of tagged unions whose tag pydantic adds to the path (`steps[1].missing.rate`): dropped."""
    import yaml

    from privsynth.schema import _location

    try:
        text = Path(path).read_text(encoding="utf-8")
        body = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"{path}: cannot read the scenario: {exc}".replace("\n", " ")) from None
    try:
        return model.model_validate(body if body is not None else {})
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(p for j, p in enumerate(e["loc"]) if not (j == 2 and e["loc"][0] == tagged))
            problems.append(f"line {line_of(text, loc)}: {_location(loc)}: {e['msg']}")
        raise ParameterError(f"{path}: {'; '.join(problems)}") from None


def line_of(text: str, loc: tuple) -> int:
    """The YAML line (1-based) of the deepest node of `loc` that exists."""
    import yaml

    node = yaml.compose(text)
    line = 1
    for key in loc:
        if node is None:
            return line
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
    return line if node is None else node.start_mark.line + 1
