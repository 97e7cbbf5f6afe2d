"""Usage errors of the ``allocator`` command line: one French line each, exit code 2.

Click's own messages are English and come with a usage block (``Error: Invalid value for
'--role': 'roi' is not one of ...``). The root group of :mod:`service.cli.main` uses
:class:`FrenchGroup`, whose sub-groups and commands are :class:`FrenchGroup` and
:class:`FrenchCommand` (click's ``group_class`` / ``command_class``); the commands and groups the
other modules define on their own are declared with :func:`french_command` / :func:`french_group`.
Every command of the tree, present or future, parses its arguments through :func:`_parse_args`,
which turns each of click's usage errors into one :class:`CliInvalid` line built from the
parameter and the value received:

    entrée invalide : --role : valeur attendue parmi portail, agence, analyste, admin ; reçu 'roi'

Commands raise :class:`CliInvalid` themselves for their own checks; the parameter types defined
here (:data:`DEPARTEMENT`, :data:`IDENTIFIANT`) fail with French messages of their own. A wrong
setting of the environment is :class:`CliConfigInvalid` (``configuration invalide : …``, exit 2):
the commands that write decision letters are decorated with :func:`writes_letters`, which checks
``ALLOCATOR_PUBLIC_URL`` before they start. Help texts (``--help``) stay the commands' docstrings.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import IO, Any

import click

EXIT_INVALID = 2


class CliInvalid(click.UsageError):
    """A user mistake on the command line: printed as one French line, exit code 2."""

    exit_code = EXIT_INVALID

    def __init__(self, champ: str, message: str) -> None:
        super().__init__(f"{champ} : {message}")
        self.champ = champ
        self.text = message

    def format_message(self) -> str:
        return f"entrée invalide : {self.champ} : {self.text}"

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), file=file, err=True)


class CliConfigInvalid(click.ClickException):
    """A wrong setting of the environment: printed as one French line, exit code 2."""

    exit_code = EXIT_INVALID

    def format_message(self) -> str:
        return f"configuration invalide : {self.message}"

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), file=file, err=True)


def public_url() -> str:
    """The public address the letters cite, read and checked by the one rule
    (:func:`service.explanations.legal.public_url`, as the app factory does at start): a wrong
    ``ALLOCATOR_PUBLIC_URL`` is :class:`CliConfigInvalid` (one French line, exit 2)."""
    from service.explanations.legal import public_url

    try:
        return public_url()
    except ValueError as exc:
        raise CliConfigInvalid(str(exc)) from None


def writes_letters(command: Callable[..., Any]) -> Callable[..., Any]:
    """For a command that writes decision letters (or starts the service that does): checks
    :func:`public_url` before anything is read or computed."""

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        public_url()
        return command(*args, **kwargs)

    checked.writes_letters = True  # type: ignore[attr-defined]  # (kept by functools.wraps)
    return checked


class FrenchType(click.ParamType):
    """A parameter type whose failures are French already (kept as they are)."""


class Departement(FrenchType):
    """A programme département, by code or by name (:func:`geodata.programme_departement`)."""

    name = "departement"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from geodata import UnknownDepartement, programme_departement

        try:
            return programme_departement(value)
        except UnknownDepartement as exc:
            self.fail(str(exc), param, ctx)


class Identifiant(FrenchType):
    """A store id: an integer from 0 to 2^53 − 1 (the API's bound, ``api_schemas.MAX_ID``)."""

    name = "identifiant"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from service.contract.documents import MAX_ID

        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip(), 10)
            except ValueError:
                self.fail(f"numéro entier attendu ; reçu {value!r}", param, ctx)
        if not 0 <= number <= MAX_ID:
            self.fail(f"numéro entre 0 et {MAX_ID} attendu ; reçu {value!r}", param, ctx)
        return number


DEPARTEMENT = Departement()
IDENTIFIANT = Identifiant()


def _hint(param: click.Parameter | None) -> str:
    """How the user wrote the parameter: its long option, or the argument's name."""
    if param is None:
        return "(paramètre)"
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.human_readable_name


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}".replace(".", ",")


def _range_text(t: click.types._NumberRangeBase, what: str) -> str:
    lo, hi = t.min, t.max
    lo_op = ">" if t.min_open else "≥"
    hi_op = "<" if t.max_open else "≤"
    if lo is not None and hi is not None:
        if not (t.min_open or t.max_open):
            return f"{what} de {_number(lo)} à {_number(hi)} attendu"
        return f"{what} {lo_op} {_number(lo)} et {hi_op} {_number(hi)} attendu"
    if lo is not None:
        return f"{what} {lo_op} {_number(lo)} attendu"
    return f"{what} {hi_op} {_number(hi)} attendu"


def _file_problem(value: Any, want_dir: bool | None) -> str:
    """Why a path given by the user cannot be used (French, from the file system)."""
    path = os.fspath(value) if isinstance(value, str | os.PathLike) else str(value)
    if not os.path.exists(path):
        return "dossier introuvable" if want_dir else "fichier introuvable"
    if want_dir is False and os.path.isdir(path):
        return "c'est un dossier ; un fichier est attendu"
    if want_dir is True and not os.path.isdir(path):
        return "c'est un fichier ; un dossier est attendu"
    if not os.access(path, os.R_OK):
        return "lecture non autorisée"
    return "écriture non autorisée"


def _type_message(t: click.ParamType, value: Any) -> str:
    """The French message for a value that ``t`` refused."""
    if isinstance(t, click.IntRange):
        return _range_text(t, "nombre entier")
    if isinstance(t, click.FloatRange):
        return _range_text(t, "nombre")
    if isinstance(t, click.types.IntParamType):
        return "nombre entier attendu"
    if isinstance(t, click.types.FloatParamType):
        return "nombre attendu (point décimal, p. ex. 0.5)"
    if isinstance(t, click.Choice):
        return "valeur attendue parmi " + ", ".join(str(c) for c in t.choices)
    if isinstance(t, click.types.BoolParamType):
        return "booléen attendu (true ou false)"
    if isinstance(t, click.File):
        return _file_problem(value, want_dir=False)
    if isinstance(t, click.Path):
        return _file_problem(value, want_dir=not t.file_okay if t.dir_okay else False)
    if isinstance(t, click.DateTime):
        return "date attendue (" + " ou ".join(t.formats) + ")"
    if isinstance(t, click.types.UUIDParameterType):
        return "identifiant UUID attendu"
    return "valeur non valide"


def _received(command: click.Command, ctx: click.Context, raw: list[str], param: Any) -> Any:
    """The value the user gave for ``param`` (parsed again from the raw arguments)."""
    try:
        opts, _, _ = command.make_parser(ctx).parse_args(args=list(raw))
    except click.UsageError:  # pragma: no cover - the first parse got past the parser
        return None
    value = opts.get(param.name)
    if isinstance(value, list | tuple):
        for item in value:  # the first item the type refuses
            try:
                param.type.convert(item, param, ctx)
            except click.BadParameter:
                return item
        return value[0] if value else None
    return value


def _choices(param: click.Parameter | None) -> str:
    if param is not None and isinstance(param.type, click.Choice):
        return " ; attendu : " + ", ".join(str(c) for c in param.type.choices)
    return ""


def _sub_commands(ctx: click.Context) -> str:
    command = ctx.command
    if isinstance(command, click.Group):
        return ", ".join(command.list_commands(ctx))
    return ""  # pragma: no cover - only groups have sub-commands


def translate(
    exc: click.UsageError, command: click.Command, ctx: click.Context, raw: list[str]
) -> CliInvalid:
    """One French :class:`CliInvalid` for any of click's usage errors."""
    if isinstance(exc, CliInvalid):
        return exc
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return CliInvalid(
            "commande",
            f"sous-commande manquante ; attendu : {_sub_commands(ctx)} "
            f"(aide : {ctx.command_path} --help)",
        )
    if isinstance(exc, click.MissingParameter):
        argument = exc.param_type == "argument" or isinstance(exc.param, click.Argument)
        what = "argument obligatoire manquant" if argument else "option obligatoire manquante"
        return CliInvalid(_hint(exc.param), what + _choices(exc.param))
    if isinstance(exc, click.BadParameter):
        param = exc.param
        if param is not None and isinstance(param.type, FrenchType):
            return CliInvalid(_hint(param), exc.message)
        value = _received(command, ctx, raw, param) if param is not None else None
        text = _type_message(param.type, value) if param is not None else "valeur non valide"
        return CliInvalid(_hint(param), text + ("" if value is None else f" ; reçu {value!r}"))
    if isinstance(exc, click.NoSuchOption):
        maybe = (
            f" (vouliez-vous dire {' ou '.join(exc.possibilities)} ?)" if exc.possibilities else ""
        )
        return CliInvalid(exc.option_name, f"option inconnue de « {ctx.command_path} »{maybe}")
    if isinstance(exc, click.BadOptionUsage):
        param = next((p for p in command.params if exc.option_name in getattr(p, "opts", ())), None)
        takes_value = not (isinstance(param, click.Option) and param.is_flag)
        return CliInvalid(
            exc.option_name,
            "valeur manquante après l'option"
            if takes_value
            else "cette option ne prend pas de valeur",
        )
    return CliInvalid("commande", f"utilisation incorrecte (aide : {ctx.command_path} --help)")


def _parse_args(
    command: click.Command,
    parse: Callable[[click.Context, list[str]], list[str]],
    ctx: click.Context,
    args: list[str],
) -> list[str]:
    raw = list(args)  # click's parser consumes the list it is given
    refuses_extra = not ctx.allow_extra_args
    ctx.allow_extra_args = True
    try:
        rest = parse(ctx, args)
        if refuses_extra and rest and not ctx.resilient_parsing:
            raise CliInvalid("arguments", f"en trop : {' '.join(rest)}")
    except click.UsageError as exc:
        error = translate(exc, command, ctx, raw)
        ctx.close()  # the command will not run: close what parsing opened (click.File)
        raise error from None
    finally:
        ctx.allow_extra_args = not refuses_extra
    return rest


class FrenchCommand(click.Command):
    """A command whose usage errors are one French line (:func:`translate`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return _parse_args(self, super().parse_args, ctx, args)


class FrenchGroup(click.Group):
    """A group whose usage errors, and those of every command and group under it, are French."""

    command_class = FrenchCommand
    group_class: type[click.Group | type] | None = type  # sub-groups are FrenchGroup as well

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return _parse_args(self, super().parse_args, ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if not self.commands:  # a command written as a group (``programme``)
            raise CliInvalid("arguments", f"en trop : {' '.join(args)}")
        try:
            return super().resolve_command(ctx, args)
        except CliInvalid:
            raise
        except click.UsageError:
            raise CliInvalid(
                "commande",
                f"{args[0]!r} inconnue de « {ctx.command_path} » ; attendu : {_sub_commands(ctx)}",
            ) from None


def french_command(name: str, **attrs: Any) -> Callable[[Callable[..., Any]], FrenchCommand]:
    """``click.command`` for a command of the ``allocator`` tree: a :class:`FrenchCommand`."""
    return click.command(name, cls=FrenchCommand, **attrs)


def french_group(name: str, **attrs: Any) -> Callable[[Callable[..., Any]], FrenchGroup]:
    """``click.group`` for a group of the ``allocator`` tree: a :class:`FrenchGroup` (its own
    commands and sub-groups are French as well)."""
    return click.group(name, cls=FrenchGroup, **attrs)
