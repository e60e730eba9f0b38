"""Dataclasses as command lines: each field's help is written once, in the docstring under the field, and
becomes its flag's help.

    @dataclass(frozen=True)
    class Settings:
        size: int = 64
        '''output side in pixels'''
        gray: bool = False
        '''one grey channel instead of RGB'''

    add_flags(parser, Settings)                 # --size SIZE, --gray/--no-gray, help and defaults from the fields
    Settings(**values_from(Settings, args))     # back from the parsed namespace
    parse_assignments(Settings, ["size=32"])    # key=value words, typed by the fields: {"size": 32}

A field's docstring is the string literal right after it in the class body (an attribute docstring, as
Sphinx and tyro read them). `option(default, metavar=..., cli=False, **meta)` adds what else a flag needs
(cli=False keeps a field off the command line) and the dataclass's own per-field metadata. Values are
parsed by the field's type: int, float, bool (true/false, yes/no, on/off, 1/0), str, Literal choices,
tuples and lists (comma-separated), and `X | None` (`none` or `null` for None). Serves `vidshard train`
(RunConfig, and the model Config's key=value overrides), the FaceConfig flags of `vidshard prepare` and
`python -m pipelines.faces.video`.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import textwrap
import types
import typing

from vidshard.errors import UsageError


def option(default=dataclasses.MISSING, *, default_factory=dataclasses.MISSING, metavar: str | None = None,
           cli: bool = True, **meta) -> dataclasses.Field:
    """A dataclass field with what its flag needs besides the help (the docstring under it): a metavar, or
    cli=False to keep it off the command line; other keywords go into the field's metadata."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"metavar": metavar, "cli": cli, **meta})


@functools.cache
def field_docs(cls) -> dict[str, str]:
    """{field name: its docstring, on one line} from the class body (and its dataclass bases)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        except (OSError, TypeError):   # no source (a frozen app): the flags go without help
            continue
        for field_node, doc in zip(body, body[1:]):
            if (isinstance(field_node, ast.AnnAssign) and isinstance(field_node.target, ast.Name)
                    and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
                    and isinstance(doc.value.value, str)):
                docs[field_node.target.id] = " ".join(doc.value.value.split())
    return docs


def field_types(cls) -> dict[str, typing.Any]:
    """Field name -> resolved type (also under `from __future__ import annotations`)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def default_of(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def help_of(cls, f: dataclasses.Field) -> str:
    """The field's help (its docstring) with its default appended, unless the help already says it."""
    text = field_docs(cls).get(f.name) or f.name.replace("_", " ")
    if "default" in text.lower():
        return text
    default = default_of(f)
    if isinstance(default, bool):
        shown = "on" if default else "off"
    elif isinstance(default, tuple):
        shown = ",".join(map(str, default))
    else:
        shown = "none" if default is None else default
    return f"{text} (default: {shown})"


# ------------------------------------------------------------------------------------- values

def parse_value(text: str, tp):
    """Parse a command-line string as the field type `tp`; ValueError says what was expected."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if text.strip().lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return parse_value(text, arg)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(" or ".join(errors))
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == text:
                return choice
        raise ValueError(f"one of {', '.join(map(str, args))}")
    if origin in (tuple, list) or tp in (tuple, list):
        items = [s.strip() for s in text.strip().strip("()[]").split(",") if s.strip()]
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            item_types = [args[0]] * len(items)
        elif origin is tuple and args:
            if len(items) != len(args):
                raise ValueError(f"{len(args)} comma-separated values")
            item_types = list(args)
        else:
            item_types = [args[0] if args else str] * len(items)
        values = [parse_value(s, t) for s, t in zip(items, item_types)]
        return tuple(values) if (origin or tp) is tuple else values
    if tp is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError("a boolean (true/false)")
    if tp in (int, float):
        try:
            return tp(text)
        except ValueError:
            raise ValueError(f"{'an integer' if tp is int else 'a number'}, got {text!r}") from None
    if tp is str:
        return text
    raise ValueError(f"a value of type {tp} (not settable from the command line)")


def coerce_value(value, tp):
    """A value from Python, YAML or JSON as the field type: strings parsed, ints for floats, lists for tuples."""
    if isinstance(value, str) and tp is not str:
        return parse_value(value, tp)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(tp) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def coerce_values(cls, values: dict, what: str) -> dict:
    """`values` typed as cls's fields; an unknown key is a UsageError naming `what` and the valid keys."""
    types_ = field_types(cls)
    unknown = [k for k in values if k not in types_]
    if unknown:
        raise UsageError(f"{what} sets unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"valid keys: {', '.join(types_)}")
    return {k: coerce_value(v, types_[k]) for k, v in values.items()}


def parse_assignments(cls, items: list[str]) -> dict:
    """['lr=0.001', 'channels=1'] -> {'lr': 0.001, 'channels': 1}; errors name the key and the valid ones."""
    types_ = field_types(cls)
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"bad override {item!r}: expected key=value (valid keys: {', '.join(types_)})")
        if key not in types_:
            raise UsageError(f"unknown config key {key!r} in {item!r}; valid keys: {', '.join(types_)}")
        try:
            out[key] = parse_value(text, types_[key])
        except ValueError as e:
            raise UsageError(f"bad value for {key} in {item!r}: expected {e}") from None
    return out


# ------------------------------------------------------------------------------------- argparse

def _flag_type(tp, name: str):
    def parse(text: str):
        try:
            return parse_value(text, tp)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected {e}") from None
    parse.__name__ = name
    return parse


def add_flags(parser, cls, *, only=None, skip=(), unset: bool = False) -> None:
    """One flag per command-line field of `cls` (--detect-every for detect_every), typed, with the field's
    help and default. unset=True leaves flags that were not given out of the namespace (argparse.SUPPRESS):
    for commands that must tell "given" from "default" (a resumed run keeps its own values)."""
    types_ = field_types(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True) or f.name in skip or (only is not None and f.name not in only):
            continue
        tp = types_[f.name]
        default = argparse.SUPPRESS if unset else default_of(f)
        kw = {"dest": f.name, "default": default, "help": help_of(cls, f).replace("%", "%%")}  # argparse formats help with %
        union = typing.get_origin(tp) in (typing.Union, types.UnionType)
        bare = [a for a in typing.get_args(tp) if a is not type(None)] if union else [tp]
        if bare == [bool]:
            parser.add_argument(flag_name(f.name), action=argparse.BooleanOptionalAction, **kw)
            continue
        literal = bare[0] if typing.get_origin(bare[0]) is typing.Literal else None
        if literal is not None:
            kw["choices"] = typing.get_args(literal)
        else:
            kw["metavar"] = f.metadata.get("metavar") or f.name.upper()
        parser.add_argument(flag_name(f.name), type=_flag_type(tp, f.name), **kw)


def values_from(cls, args: argparse.Namespace) -> dict:
    """The fields of `cls` present in a parsed namespace, by name."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
