"""The one frame every `aesthetic` command runs in: its consoles, its error path, its exit codes and
its configuration files.

* Results go to ``console`` (stdout); errors and warnings to ``err_console`` (stderr). Both never wrap
  or highlight, and every user-supplied string printed through them is escaped with ``esc`` (a path
  containing ``[/b]`` is text, not rich markup).
* One error path: a known user error (the project's error classes, ``OSError`` on a user path, a
  pydantic ``ValidationError``, a plain ``ValueError`` raised on bad input) becomes one line
  ``error: <file or option>: <problem>`` on stderr and exit code ``EXIT_USAGE``. Anything else (a
  programming error) keeps its traceback. ``install_error_frame(app)`` puts every command of the app
  inside this path, so a new command cannot forget it.
* ``ConfigSpec``: a command's options are the fields of one model (a pydantic model, a dataclass or
  an estimator's constructor). Each option's default is ``None`` ("not given") and its help shows the
  model's default; ``--config FILE`` (TOML) supplies values, options given on the command line
  override them, and the merge is validated once by the model.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import tomllib
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NoReturn, Optional

import typer
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from rich.console import Console
from rich.markup import escape

log = logging.getLogger(__name__)

#: Exit codes of every command (documented in docs/cli.md by scripts/gen_cli_docs.py).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "Success.",
    EXIT_FAILED: "The command ran but its work failed: no image could be scored (`predict`), a photo could "
                 "not be explained (`explain`), leakage found with `--fail-on-leakage` (`audit`), a demo "
                 "stage failed (`demo`).",
    EXIT_USAGE: "Usage or input error: an unknown option or bad value, a missing or unreadable "
                "file, a bad config file (unknown key, wrong type), a file in the wrong format. One line on "
                "stderr names the file or option and the problem.",
}

console = Console(soft_wrap=True, highlight=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False)


def esc(value: object) -> str:
    """``value`` as text that rich prints literally (user paths may contain ``[``)."""
    return escape(str(value))


class UserError(Exception):
    """A problem with what the user asked for; its message is the one sentence shown."""


def one_line(error: object) -> str:
    """An error as one line: OSErrors name their file, multi-line messages are joined."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    elif isinstance(error, ValidationError):
        text = describe_validation_error(error)
    else:
        text = str(error) or type(error).__name__
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def fail(message: object, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: message`` on stderr (no traceback) and exit with ``code``."""
    err_console.print(f"[red]error:[/red] {esc(one_line(message))}")
    raise typer.Exit(code)


def warn(message: object) -> None:
    """A problem that does not stop the command (a skipped file), on stderr."""
    err_console.print(f"[yellow]{esc(one_line(message))}[/yellow]")


#: The project's error classes that mean "bad input", not "bug" (module, class). A test checks each resolves.
USER_ERROR_CLASSES: tuple[tuple[str, str], ...] = (
    ("aesthetic.data", "DataError"),
    ("aesthetic.bundles.scoring", "ModelChoiceError"),
    ("aesthetic.feature_extraction", "ExtractionJobError"),
    ("aesthetic.feature_extraction", "WeightsError"),
    ("aesthetic.feature_extraction", "FeatureVersionError"),
    ("aesthetic.feature_store", "FeatureStoreError"),
    ("aesthetic.genetic_selection.base", "SelectionError"),
    ("aesthetic.imageio", "ImageReadError"),
    ("aesthetic.bundles.model", "BundleError"),
    ("aesthetic.benchmarks.report.report", "ReportError"),
    ("aesthetic.benchmarks.report.suite", "SuiteError"),
    ("aesthetic.outputs", "OutputError"),
)


def user_error_types() -> tuple[type[BaseException], ...]:
    """The classes of USER_ERROR_CLASSES (plus UserError, ValidationError, OSError). Imported when a command
    fails, so the CLI's start-up stays light; one that cannot be imported is skipped, so reporting an error
    never raises a second one."""
    import importlib

    found: list[type[BaseException]] = [UserError, ValidationError, OSError]
    for module, name in USER_ERROR_CLASSES:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            log.debug("user error class %s.%s not importable", module, name)
    return tuple(found)


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with the one error path: known user errors -> one line on stderr, exit 2.

    A plain ``ValueError`` is treated as bad input too (the library raises it for input it cannot
    use), but its traceback is logged at DEBUG so ``aesthetic -v`` shows where it came from. Every
    other exception propagates with its traceback.
    """
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - sorted below, re-raised unless it is a user error
            import click

            if isinstance(exc, click.ClickException):
                raise
            if isinstance(exc, user_error_types()) or type(exc) is ValueError:
                log.debug("%s failed", command.__name__, exc_info=True)
                fail(exc)
            raise
    run._guarded = True  # type: ignore[attr-defined]
    return run


def install_error_frame(app: typer.Typer) -> None:
    """Wrap every command of ``app`` and of its sub-apps in ``guarded`` (idempotent)."""
    for info in app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "_guarded", False):
            info.callback = guarded(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            install_error_frame(group.typer_instance)


def parse_widths(text: str, option: str) -> tuple[int, ...]:
    """``"512,128,32"`` -> ``(512, 128, 32)``, or a UserError naming the option."""
    try:
        widths = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"{option} {text!r}: expected comma-separated layer widths such as 512,128,32") from None
    if not widths or min(widths) < 1:
        raise UserError(f"{option} {text!r}: widths must be positive integers")
    return widths


def split_names(text: Optional[str]) -> Optional[list[str]]:
    """``"a, b"`` -> ``["a", "b"]``; None stays None (option not given)."""
    return [t.strip() for t in text.split(",") if t.strip()] if text is not None else None


# --------------------------------------------------------------------------- configuration

def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file as a dict, or a UserError naming the file and what is wrong with it."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not a valid TOML file ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None


def _fields_of(target: type) -> dict[str, tuple[Any, Any]]:
    """``name -> (type, default)`` of a dataclass's fields or of a constructor's parameters."""
    if dataclasses.is_dataclass(target):
        hints = typing.get_type_hints(target)
        out = {}
        for f in dataclasses.fields(target):
            default = (f.default if f.default is not dataclasses.MISSING else
                       f.default_factory() if f.default_factory is not dataclasses.MISSING else ...)
            out[f.name] = (hints.get(f.name, Any), default)
        return out
    hints = typing.get_type_hints(target.__init__)
    params = list(inspect.signature(target.__init__).parameters.values())[1:]
    return {p.name: (hints.get(p.name, Any),
                     ... if p.default is inspect.Parameter.empty else p.default)
            for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def show_default(value: Any) -> str:
    """A default as a user would type it on the command line."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if value is None:
        return "none"
    return str(value)


class ConfigSpec:
    """The options of one command as the fields of one model, and ``--config FILE`` for them.

    ``target`` is a pydantic model (validated as is), or a dataclass / an estimator class whose
    fields or constructor parameters are validated by a pydantic model built from them. ``exclude``
    names fields the command sets itself (never from the file).
    """

    def __init__(self, target: type, exclude: Iterable[str] = ()):
        self.target = target
        self.exclude = set(exclude)
        if isinstance(target, type) and issubclass(target, BaseModel):
            self.model = target
        else:
            fields = {n: t for n, t in _fields_of(target).items() if n not in self.exclude}
            self.model = create_model(f"{target.__name__}Params",
                                      __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
                                      **fields)
        self.keys = [n for n in self.model.model_fields if n not in self.exclude]
        self.flags: dict[str, str] = {}
        self.switches: dict[str, tuple[str, str]] = {}  # bool fields: (on flag, off flag)

    def default(self, name: str) -> Any:
        field = self.model.model_fields[name]
        return field.get_default(call_default_factory=True)

    def defaults(self) -> dict[str, Any]:
        return {name: self.default(name) for name in self.keys}

    def option(self, name: str, *decls: str, help: Optional[str] = None, **kwargs: Any) -> Any:
        """A typer option for field ``name``: default None (not given), help showing the model's default."""
        if name not in self.keys:
            raise KeyError(f"{self.target.__name__} has no field {name!r}")
        default = self.default(name)
        shown = show_default(default)
        long = [d for d in decls if d.startswith("--")]
        self.flags[name] = long[0].split("/")[0] if long else "--" + name.replace("_", "-")
        if long and "/" in long[0]:
            on, off = long[0].split("/", 1)
            self.switches[name] = (on, off)
            shown = on if default else off
        text = help or self.model.model_fields[name].description or ""
        text = f"{text}  [default: {shown}]".strip() if shown else text
        return typer.Option(None, *decls, help=text, show_default=False, **kwargs)

    def merge(self, config_file: Optional[Path], given: Mapping[str, Any]) -> dict[str, Any]:
        """Values from ``config_file`` overridden by the options ``given`` (None = not given),
        validated once by the model; a UserError names the file and key, or the option."""
        from_file = read_toml(config_file) if config_file is not None else {}
        unknown = [key for key in from_file if key not in self.keys]
        if unknown:
            raise UserError(f"{config_file}: unknown key {unknown[0]!r} for {self.target.__name__} "
                            f"(known keys: {', '.join(self.keys)})")
        from_cli = {k: v for k, v in given.items() if v is not None}
        try:
            validated = self.model.model_validate({**from_file, **from_cli})
        except ValidationError as exc:
            error = exc.errors()[0]
            key = str(error["loc"][0]) if error["loc"] else ""
            where = (f"{self.flags.get(key, key)} {from_cli[key]!r}" if key in from_cli else
                     f"{config_file}: key {key!r}" if config_file is not None and key else
                     key or (str(config_file) if config_file is not None else "the options"))
            raise UserError(f"{where}: {error['msg'].removeprefix('Value error, ')}") from None
        return {name: getattr(validated, name) for name in self.keys}

    def command_flags(self, values: Mapping[str, Any]) -> list[str]:
        """The options that reproduce ``values`` from the defaults (for the command recorded in a report)."""
        flags: list[str] = []
        for name in self.keys:
            value = values.get(name, self.default(name))
            if value == self.default(name) or name not in self.flags:
                continue
            if name in self.switches:
                flags.append(self.switches[name][0 if value else 1])
            else:
                flags += [self.flags[name], show_default(value)]
        return flags

    def build(self, config_file: Optional[Path], given: Mapping[str, Any], **fixed: Any) -> Any:
        """The target itself: a validated model instance, or ``target(**merged, **fixed)``."""
        values = self.merge(config_file, given)
        if self.model is self.target:
            return self.target.model_validate({**values, **fixed})
        return self.target(**values, **fixed)


def config_option() -> Any:
    """The ``--config FILE`` option every configurable command takes."""
    return typer.Option(None, "--config", "-c", help="TOML file whose keys are this command's settings "
                                                     "(see docs/configuration.md); options given here override it.",
                        dir_okay=False)


def describe_validation_error(error: ValidationError) -> str:
    """A pydantic ValidationError as one sentence: the first bad field and why."""
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{error.title}: {loc}: {first['msg']}{more}" if loc else f"{error.title}: {first['msg']}{more}"
