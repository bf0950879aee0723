"""Validation of a model file's parts before anything is built from them, and the sample-time guard.

A model file is untrusted input. `modelzip` bounds its sizes; this module checks what it says: the
manifest's structure, model.json against a strict schema (types of every field, the engine among the
registered ones, every array's dtype and shape against the declared columns and engine parameters), so
that a file which loads samples. What cannot be foreseen cheaply is caught at the sample boundary
(`guarded`): an internal error while sampling a model read from a file names the file as corrupt.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from privsynth.engines import ENGINES
from privsynth.errors import ModelFileError, PrivsynthError
from privsynth.schema import Schema

MAX_VARIABLES = 100_000
MAX_CARDINALITY = 10_000_000
MAX_CELLS = 50_000_000  # elements of one array an engine derives from the state (a factor table, an embedding)
MAX_TEXT_LENGTH = 100_000
MAX_NUMBER = 1e15  # replacement state (counters, starts): far beyond any real key, far below float trouble
HEX64 = r"^[0-9a-f]{64}$"

Count = Annotated[StrictInt, Field(ge=0, le=MAX_CARDINALITY)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class EngineRef(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    name: StrictStr
    params: dict[str, Any]


class Manifest(BaseModel):
    """The fields loading relies on; other fields are free (they are sealed by the checksum)."""

    model_config = ConfigDict(extra="allow", strict=True)
    format: Literal["privsynth-model"]
    format_version: StrictInt
    id: Annotated[StrictStr, Field(pattern=r"^mdl-[0-9a-f]{20}$")] | None = None
    kind: Literal["model"] | None = None
    engine: EngineRef
    contents: dict[StrictStr, Annotated[StrictStr, Field(pattern=HEX64)]]
    manifest_sha256: Annotated[StrictStr, Field(pattern=HEX64)] | None = None
    privacy: dict[str, Any] | None = None
    seed: Annotated[StrictInt, Field(ge=0)] | None = None
    source: dict[str, Any] | None = None
    created: StrictStr | None = None


class Codec(_Strict):
    name: StrictStr
    transform: Literal["numeric", "categorical"]
    params: dict[str, Any]
    nullable: StrictBool


class EncoderState(_Strict):
    kind: Literal["public-domain"] | None = None
    bins: Annotated[StrictInt, Field(ge=1, le=MAX_CARDINALITY)] | None = None
    columns: list[Codec]


class Body(_Strict):
    schema_: dict[str, Any] = Field(alias="schema")
    encoder: EncoderState
    engine_state: dict[str, Any]
    extras: dict[StrictStr, dict[str, Any]] = {}


class TableState(_Strict):
    names: list[StrictStr]
    cardinality: list[Count]


class GraphicalState(TableState):
    order: list[Annotated[StrictInt, Field(ge=0)]]
    parents: list[list[Annotated[StrictInt, Field(ge=0)]]]
    privacy: dict[str, Any]


class Size(_Strict):
    dim: Annotated[StrictInt, Field(ge=1, le=4096)]
    hidden: Annotated[StrictInt, Field(ge=1, le=16384)]
    batch: Annotated[StrictInt, Field(ge=1)]
    bins: Annotated[StrictInt, Field(ge=0, le=MAX_CARDINALITY)]


class ArgnState(TableState):
    size: Size
    temperature: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False, strict=False)]
    training: dict[str, Any]
    privacy: dict[str, Any] = {}


class Layout(_Strict):
    """A history model's sequence.json."""

    entity: StrictStr
    time: StrictStr
    context: list[StrictStr]
    events: list[StrictStr]
    time_spec: dict[str, Any]
    key_dtype: StrictStr
    table_context: list[StrictStr] = []
    smooth: dict[StrictStr, Any] = {}
    gap_log: StrictBool = False
    time_bounds: (
        Annotated[list[Annotated[float, Field(allow_inf_nan=False, strict=False)]], Field(min_length=2, max_length=2)]
        | None
    ) = None
    key_state: dict[StrictStr, Any] = {}


def _fields(exc: ValidationError, limit: int = 3) -> str:
    problems = [f"{'.'.join(map(str, e['loc'])) or 'top level'}: {e['msg']}" for e in exc.errors()[:limit]]
    more = exc.error_count() - limit
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def _validated(model: type[BaseModel], data, label, what: str):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ModelFileError(f"model file {label} is corrupt ({what}: {_fields(exc)}); fit it again") from None


def _bad(label, what: str) -> ModelFileError:
    return ModelFileError(f"model file {label} is corrupt ({what}); fit it again")


def check_manifest(manifest: dict, label) -> None:
    """The manifest's structure: the fields loading and sampling read, with their types; a known engine."""
    checked = _validated(Manifest, manifest, label, "manifest.json")
    if checked.engine.name not in (*ENGINES, "sequence"):
        raise ModelFileError(f"model file {label} uses engine {checked.engine.name[:40]!r}, unknown to this privsynth")


def check_layout(layout, label) -> Layout:
    return _validated(Layout, layout, label, "sequence.json")


def check_body(manifest: dict, body, arrays: dict[str, np.ndarray], label) -> None:
    """model.json and the arrays, against each other and the manifest's engine (see the module docstring)."""
    checked = _validated(Body, body, label, "model.json")
    schema = _validated(Schema, checked.schema_, label, "model.json schema")
    _check_extras(checked.extras, schema, label)
    names = _check_encoder(checked.encoder, schema, arrays, label)
    engine = manifest["engine"]["name"]
    state = {"argn": ArgnState, "mst": GraphicalState, "aim": GraphicalState}.get(engine, TableState)
    params = _validated(state, checked.engine_state, label, f"{engine} state")
    if list(params.names) != names:
        raise _bad(label, "the engine's variables are not the encoder's columns")
    if len(params.cardinality) != len(params.names):
        raise _bad(label, "the engine declares a cardinality for each variable, not as many as its names")
    engine_arrays = {k[len("engine/") :]: v for k, v in arrays.items() if k.startswith("engine/")}
    stray = {k for k in arrays if not k.startswith(("engine/", "encoder/"))}
    if stray:
        raise _bad(label, f"unknown array {sorted(stray)[0]!r}")
    if engine in ("copula", "independent"):
        _check_marginals(params, engine_arrays, engine == "copula", label)
    elif engine in ("mst", "aim"):
        _check_graphical(params, engine_arrays, label)
    elif engine == "argn":
        _check_argn(params, engine_arrays, label)


def _number_array(array: np.ndarray, label, name: str, ndim: int, integer: bool = False) -> None:
    if array.ndim != ndim:
        raise _bad(label, f"array {name!r} has {array.ndim} dimensions, not {ndim}")
    kinds = "iub" if integer else "iufb"
    if array.dtype.kind not in kinds:
        raise _bad(label, f"array {name!r} holds {array.dtype}, not numbers")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise _bad(label, f"array {name!r} holds NaN or infinite values")


def _check_extras(extras: dict, schema, label) -> None:
    names = set(schema.names)
    for name, state in extras.items():
        if name not in names:
            raise _bad(label, f"replacement state for an unknown column {name[:40]!r}")
        rate = state.get("null_rate", 0.0)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise _bad(label, f"column {name!r} has a null rate outside [0, 1]")
        lengths = state.get("lengths", [0.0])
        if (
            not isinstance(lengths, list)
            or not 1 <= len(lengths) <= 1001
            or not all(type(v) in (int, float) and 0 <= v <= MAX_TEXT_LENGTH for v in lengths)
        ):
            raise _bad(label, f"column {name!r} has text lengths that are not numbers in [0, {MAX_TEXT_LENGTH:,}]")
        for value in _numbers(state):
            if not math.isfinite(value) or abs(value) > MAX_NUMBER:
                raise _bad(label, f"column {name!r} has a replacement setting out of range ({value!r})")


def _numbers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value) if abs(value) < 1e300 else math.inf
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)


def _check_encoder(encoder: EncoderState, schema, arrays: dict[str, np.ndarray], label) -> list[str]:
    """The encoded variables' names; every codec is a learned column of the schema with sane state."""
    learned = {c.name: c for c in schema.columns if c.learned}
    names = [c.name for c in encoder.columns]
    if len(set(names)) != len(names) or not set(names) <= set(learned):
        raise _bad(label, "the encoder's columns are not the schema's learned columns")
    for i, codec in enumerate(encoder.columns):
        params = codec.params
        if codec.transform == "categorical":
            categories = params.get("categories")
            if not isinstance(categories, list) or not 0 < len(categories) <= MAX_CARDINALITY:
                raise _bad(label, f"column {codec.name!r} has no list of categories")
            if any(isinstance(v, dict | list) for v in categories):
                raise _bad(label, f"column {codec.name!r} has a category that is not a single value")
            if encoder.kind is None and (
                not isinstance(params.get("other"), bool) or not isinstance(params.get("marker"), str | None)
            ):
                raise _bad(label, f"column {codec.name!r} has a malformed 'other' category")
            counts = arrays.get(f"encoder/{i}/counts")
            if counts is not None and (counts.ndim != 1 or counts.shape[0] < len(categories)):
                raise _bad(label, f"column {codec.name!r} has no count per category")
        elif encoder.kind == "public-domain":
            edges = params.get("edges")
            if not isinstance(edges, list) or not 0 < len(edges) <= MAX_CARDINALITY:
                raise _bad(label, f"column {codec.name!r} has no list of cell edges")
            values = [params.get("lo"), *edges]
            if not all(type(v) in (int, float) and math.isfinite(v) for v in values):
                raise _bad(label, f"column {codec.name!r} has cell edges that are not finite numbers")
            if any(b < a for a, b in itertools.pairwise(values)):
                raise _bad(label, f"column {codec.name!r} has cell edges out of order")
        elif params.get("mode") == "continuous":
            _grid(arrays.get(f"encoder/{i}/grid"), label, codec.name)
        elif params.get("mode") == "discrete":
            _grid(arrays.get(f"encoder/{i}/support"), label, codec.name)
            _grid(arrays.get(f"encoder/{i}/cdf"), label, codec.name)
            if arrays[f"encoder/{i}/support"].shape != arrays[f"encoder/{i}/cdf"].shape:
                raise _bad(label, f"column {codec.name!r} has a support and a CDF of different lengths")
        else:
            raise _bad(label, f"column {codec.name!r} has an unknown numeric mode")
        for value in _numbers(params):
            if not math.isfinite(value):
                raise _bad(label, f"column {codec.name!r} has a parameter out of range")
        prefix = f"encoder/{i}/"
        for key, array in arrays.items():
            if key.startswith(prefix):
                _number_array(array, label, key, 1)
    for key in arrays:
        if key.startswith("encoder/") and key != "encoder/missing_patterns":
            index = key.split("/")[1]
            if not index.isdigit() or int(index) >= len(encoder.columns):
                raise _bad(label, f"array {key!r} belongs to no encoder column")
    patterns = arrays.get("encoder/missing_patterns")
    nullable = sum(c.nullable for c in encoder.columns)
    if patterns is not None:
        _number_array(patterns, label, "encoder/missing_patterns", 2)
        if patterns.dtype != np.bool_:
            raise _bad(label, "the missing-value patterns are not booleans")
        if patterns.shape[1] != nullable or patterns.shape[0] == 0:
            raise _bad(label, "the missing-value patterns do not match the nullable columns")
        names.append("::missing")
    return names


def _grid(array, label, name: str) -> None:
    """A numeric column's grid (quantiles, support or CDF): present, 1-D, finite, in order."""
    if array is None or array.ndim != 1 or array.size == 0:
        raise _bad(label, f"column {name!r} has no grid of values")
    _number_array(array, label, f"{name} grid", 1)
    if (np.diff(array.astype(np.float64)) < 0).any():
        raise _bad(label, f"column {name!r} has a grid out of order")


def _check_marginals(params: TableState, arrays: dict[str, np.ndarray], copula: bool, label) -> None:
    d = len(params.names)
    for j, k in enumerate(params.cardinality):
        freq = arrays.get(f"freq/{j}")
        if k == 0:
            if freq is not None:
                raise _bad(label, f"variable {j} is continuous but has frequencies")
            continue
        if freq is None:
            raise _bad(label, f"variable {j} has no frequencies")
        _number_array(freq, label, f"freq/{j}", 1)
        if freq.shape != (k,) or (freq < 0).any() or not 0.99 < freq.sum() < 1.01:
            raise _bad(label, f"frequencies of variable {j} are not {k} shares summing to 1")
    expected = {f"freq/{j}" for j, k in enumerate(params.cardinality) if k} | ({"corr"} if copula else set())
    if set(arrays) != expected:
        raise _bad(label, "the engine's arrays are not those its variables need")
    if copula:
        corr = arrays["corr"]
        _number_array(corr, label, "corr", 2)
        if corr.shape != (d, d) or d * d > MAX_CELLS:
            raise _bad(label, f"the correlation matrix is {corr.shape}, not {d} x {d}")
        if (np.abs(corr) > 1 + 1e-6).any():
            raise _bad(label, "the correlation matrix has entries outside [-1, 1]")


def _check_graphical(params: GraphicalState, arrays: dict[str, np.ndarray], label) -> None:
    d = len(params.names)
    if sorted(params.order) != list(range(d)) or len(params.parents) != d:
        raise _bad(label, "the sampling order is not one of the variables")
    seen: set[int] = set()
    sizes = {}
    for i, (var, parents) in enumerate(zip(params.order, params.parents, strict=True)):
        if not set(parents) <= seen or len(set(parents)) != len(parents):
            raise _bad(label, f"variable {var} has parents that are not drawn before it")
        seen.add(var)
        table = arrays.get(f"table/{i}")
        if table is None:
            raise _bad(label, f"table {i} is missing")
        _number_array(table, label, f"table/{i}", len(parents) + 1)
        if (table < 0).any():
            raise _bad(label, f"table {i} has negative entries")
        for axis, u in enumerate((*parents, var)):
            if sizes.setdefault(u, table.shape[axis]) != table.shape[axis] or table.shape[axis] == 0:
                raise _bad(label, f"table {i} disagrees with another on the size of variable {u}")
    for j, k in enumerate(params.cardinality):
        mapping = arrays.get(f"mapping/{j}")
        if mapping is None:
            if sizes[j] != k:
                raise _bad(label, f"variable {j} has {sizes[j]} cells in its tables, not its cardinality {k}")
            continue
        _number_array(mapping, label, f"mapping/{j}", 1, integer=True)
        if mapping.shape != (k,) or ((mapping < 0) | (mapping >= sizes[j])).any():
            raise _bad(label, f"mapping {j} does not send its {k} cells to the {sizes[j]} of the tables")
    expected = {f"table/{i}" for i in range(d)} | {f"mapping/{j}" for j in range(d) if f"mapping/{j}" in arrays}
    if set(arrays) != expected:
        raise _bad(label, "the engine's arrays are not those its variables need")


def _check_argn(params: ArgnState, arrays: dict[str, np.ndarray], label) -> None:
    """Every network array has the shape the declared vocabulary and sizes give (so building the network
    allocates no more than the file holds), and every continuous variable has ordered, finite edges."""
    d = len(params.names)
    vocab = []
    for j, k in enumerate(params.cardinality):
        edges = arrays.get(f"edges/{j}")
        if edges is None:
            if k == 0:
                raise _bad(label, f"continuous variable {j} has no token edges")
            vocab.append(k)
            continue
        _number_array(edges, label, f"edges/{j}", 1)
        if k != 0 or edges.size < 2 or (np.diff(edges) < 0).any():
            raise _bad(label, f"token edges of variable {j} are not an ordered grid of a continuous variable")
        vocab.append(int(edges.size))
    dim, hidden = params.size.dim, params.size.hidden
    shapes = {
        "net/embed.weight": (sum(vocab), dim),
        "net/hidden_token": (d, dim),
        "net/w1": (d, dim, hidden),
        "net/b1": (d, hidden),
        **{f"net/out.{j}.weight": (v, hidden) for j, v in enumerate(vocab)},
        **{f"net/out.{j}.bias": (v,) for j, v in enumerate(vocab)},
    }
    edges = {f"edges/{j}" for j in range(d) if f"edges/{j}" in arrays}
    if set(arrays) != set(shapes) | edges:
        raise _bad(label, "the network's arrays are not those its variables need")
    for key, shape in shapes.items():
        _number_array(arrays[key], label, key, len(shape))
        if arrays[key].size and np.abs(arrays[key]).max() > np.finfo(np.float32).max:
            raise _bad(label, f"array {key!r} holds values beyond float32, the network's precision")
        if arrays[key].shape != shape:
            raise _bad(label, f"array {key!r} is {arrays[key].shape}, not {shape}")


def guarded(method):
    """Sampling a model read from a file: an internal error (an overflow, a bad index, ...) means the file
    holds state validation did not foresee; it becomes a one-line ModelFileError naming the file. Models
    fitted in this process re-raise (a bug stays a bug)."""

    @functools.wraps(method)
    def sample(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except PrivsynthError:
            raise
        except (ArithmeticError, LookupError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
            label = getattr(self, "loaded_from", None)
            if label is None:
                raise
            raise ModelFileError(
                f"model file {label} is corrupt: sampling it failed ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:160]}); fit it again"
            ) from exc

    return sample
