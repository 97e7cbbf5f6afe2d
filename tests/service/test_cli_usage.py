"""User mistakes on the command line: one French line, exit code 2, never a traceback.

:func:`test_every_command_refuses_wrong_arguments_in_one_french_line` walks the whole click tree
(so a command added later is covered without editing this file) and, for every parameter of
every command, gives one wrong value chosen from its type; parameters typed as plain text (whose
command checks them itself) take their wrong value from :data:`WRONG_TEXT`, or are declared free
text in :data:`FREE_TEXT`: a new text parameter in neither fails the test until someone decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from service.cli.main import main
from service.cli.usage import FrenchType

#: A wrong value for each text parameter that its command checks itself.
WRONG_TEXT: dict[str, str] = {
    "--mois": "07/2021",
    "--politique": "{pas du json",
    "--date": "hier",
    "--avant": "19/05/2021",
    "FICHIER": "absent.csv",  # structures import: the file is read (and refused) by the command
    "--politiques": "tirage_au_sort",
    "--scheduler": "nulle-part",
    "--motif": "x",  # a motif of a lock has at least 3 characters
    "--host": "192.0.2.1",  # TEST-NET-1 (RFC 5737): an address of no machine, no DNS involved
}
#: Text parameters that accept any text (a label, a comment, the motif of a request).
FREE_TEXT = {
    ("token", "create", "--label"),
    ("postes", "evenement", "--commentaire"),
    ("postes", "demande", "--motif"),
}

#: Words of click's English messages (or of any English sentence) that French messages never hold.
ENGLISH = re.compile(
    r"\b(error|invalid|usage|missing|such|is|not|of|or|and|the|try|for|value|values|expected|"
    r"got|does|exist|must|either|give|unknown|required|requires|range|choose|from|file|"
    r"directory|no|none|help|integer|number|valid|line|column|expecting)\b",
    re.IGNORECASE,
)


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[Any]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield (*path, name), command, True
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command, False


ALL = list(_commands(main))
#: Commands, and groups that run by themselves (``programme``): those that take parameters.
LEAVES = [
    (path, cmd)
    for path, cmd, is_group in ALL
    if not is_group or getattr(cmd, "invoke_without_command", False)
]
GROUPS = [(path, cmd) for path, cmd, is_group in ALL if is_group]


def _hint(param: click.Parameter) -> str:
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.human_readable_name


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working folder and store: nothing is written in the repository."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    monkeypatch.delenv("ALLOCATOR_ENV", raising=False)
    (tmp_path / "fichier.json").write_text("{}", encoding="utf-8")
    (tmp_path / "dossier").mkdir()
    return tmp_path


def _valid(param: click.Parameter, workdir: Path) -> str:
    """A value of the right type, to fill the parameters not under test."""
    t = param.type
    if isinstance(t, click.Choice):
        return str(t.choices[0])
    if isinstance(t, click.IntRange | click.FloatRange):
        return str(t.min if t.min is not None else 1)  # type: ignore[attr-defined]
    if isinstance(t, click.File | click.Path):
        return str(workdir / "fichier.json")
    if _hint(param) == "--mois":
        return "2021-06"
    return "1"


def _wrong(path: tuple[str, ...], param: click.Parameter, workdir: Path) -> list[str]:
    """Wrong values for ``param``, chosen from its type (or :data:`WRONG_TEXT`)."""
    t, hint = param.type, _hint(param)
    if isinstance(t, FrenchType):
        return ["99", "abc"] if t.name == "departement" else ["abc", str(2**70)]
    if isinstance(t, click.Choice):
        return ["zzz"]
    if isinstance(t, click.IntRange | click.FloatRange):
        lo, hi = t.min, t.max  # type: ignore[attr-defined]
        out = ["abc"]
        if lo is not None:
            out.append(str(lo - 1))
        if hi is not None:
            out.append(str(hi + 1))
        return out
    if isinstance(t, click.types.IntParamType | click.types.FloatParamType):
        return ["abc"]
    if isinstance(t, click.File):
        return [str(workdir / "absent.json"), str(workdir / "dossier")]
    if isinstance(t, click.Path):
        return [str(workdir / "dossier")] if not t.dir_okay else [str(workdir / "fichier.json")]
    if (*path, hint) in FREE_TEXT:
        return []
    assert hint in WRONG_TEXT, (
        f"allocator {' '.join(path)} {hint}: give it a wrong value in WRONG_TEXT, or declare it "
        "free text in FREE_TEXT"
    )
    return [WRONG_TEXT[hint]]


def _argv(
    path: tuple[str, ...], command: click.Command, param: click.Parameter, value: str, wd: Path
) -> list[str]:
    args, options = [], []
    for p in command.params:
        if isinstance(p, click.Option) and p.is_flag:
            continue
        given = value if p is param else (_valid(p, wd) if p.required else None)
        if given is None:
            continue
        if isinstance(p, click.Argument):
            args.append(given)
        else:
            options += [_hint(p), given]
    return [*path, *args, *options]


def _cases(workdir: Path) -> Iterator[list[str]]:
    for path, command in LEAVES:
        yield [*path, "--inconnue"]
        yield [
            *path,
            *(_valid(p, workdir) for p in command.params if isinstance(p, click.Argument)),
            "de-trop",
            "de-trop",
        ]
        for param in command.params:
            if param.name == "help":
                continue
            if isinstance(param, click.Option) and param.is_flag:
                yield [*path, f"{_hint(param)}=oui"]
                continue
            for value in _wrong(path, param, workdir):
                yield _argv(path, command, param, value, workdir)
    for path, group in GROUPS:
        yield [*path, "inexistante"]
        if not group.invoke_without_command:
            yield list(path)


def _check_french_line(argv: list[str], result: Any) -> None:
    shown = f"allocator {' '.join(argv)} → exit {result.exit_code}:\n{result.output}"
    assert result.exit_code == 2, shown
    assert "Traceback" not in result.output, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, shown
    assert lines[0].startswith(("entrée invalide : ", "refusé : ", "fichier refusé : ")), shown
    # what the user typed (quoted) and option names may be anything: the rest must be French
    words = re.sub(r"'[^']*'|\"[^\"]*\"|--?[\w-]+|« [^»]* »|attendu : .*", " ", lines[0])
    assert not ENGLISH.search(words), shown


def test_the_sweep_reaches_every_command() -> None:
    names = {" ".join(path) for path, _ in LEAVES}
    assert {"allocate", "demo", "territoire diagnostic", "round draft", "programme"} <= names
    for path, command in LEAVES + GROUPS:
        assert type(command).__name__ in ("FrenchCommand", "FrenchGroup", "_LazyGroup"), path


def test_every_command_refuses_wrong_arguments_in_one_french_line(workdir: Path) -> None:
    runner = CliRunner()
    seen = 0
    for argv in _cases(workdir):
        _check_french_line(argv, runner.invoke(main, argv))
        seen += 1
    assert seen > 3 * len(LEAVES)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["territoire", "diagnostic", "--departement", "9"],
            "entrée invalide : --departement : département attendu : code 01 à 95, 2A, 2B, "
            "971 à 974 ou 976, ou nom (p. ex. 59 ou Nord) ; reçu '9'",
        ),
        (["territoire", "diagnostic", "--departement", "99"], "reçu '99'"),
        (["territoire", "diagnostic", "--departement", "Nord-Est"], "reçu 'Nord-Est'"),
        (
            ["round", "draft", "--mois", "07/2021"],
            "entrée invalide : mois : mois attendu au format AAAA-MM ; reçu '07/2021'",
        ),
        (
            ["simulate", "--mois", "07/2021..2021-09"],
            "entrée invalide : mois : mois attendu au format AAAA-MM ; reçu '07/2021'",
        ),
        (
            ["token", "create", "--role", "roi"],
            "entrée invalide : --role : valeur attendue parmi portail, agence, analyste, admin ; "
            "reçu 'roi'",
        ),
        (
            ["round", "show", "abc"],
            "entrée invalide : ROUND_ID : numéro entier attendu ; reçu 'abc'",
        ),
        (
            ["round", "draft", "--mois", "2021-06", "--politique", "{pas du json"],
            "entrée invalide : politique : JSON invalide (ligne 1, colonne 2)",
        ),
        (["round", "replay"], "entrée invalide : ROUND_ID : un numéro de tour ou --tous"),
        (["programme", "--duree", "40"], "entrée invalide : duree : doit être ≤ 36"),
        (["programme", "--duree", "0"], "entrée invalide : duree : doit être ≥ 1"),
        (
            ["simulate", "--politiques", "moteur,tirage,loterie"],
            "entrée invalide : politiques : 2 politiques inconnues : tirage, loterie ; attendu : "
            "enveloppes_departementales, moteur, premier_arrive",
        ),
    ],
)
def test_user_mistakes_are_one_french_line_naming_the_valid_form(
    workdir: Path, argv: list[str], expected: str
) -> None:
    result = CliRunner().invoke(main, argv)
    _check_french_line(argv, result)
    assert expected in result.output


def test_round_show_beyond_the_id_range_is_a_usage_error_not_a_sqlite_overflow(
    workdir: Path,
) -> None:
    for argv in (["round", "show", str(2**70)], ["postes", "liste", str(2**70)]):
        result = CliRunner().invoke(main, argv)
        _check_french_line(argv, result)
        assert "numéro entre 0 et 9007199254740991 attendu" in result.output


def test_round_export_of_an_imported_committee_is_refused_not_a_key_error(
    workdir: Path,
) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["round", "import-historique"]).exit_code == 0
    result = runner.invoke(main, ["round", "export", "1"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "refusé : Le tour n° 1 est un comité importé" in result.output


def test_serve_on_a_busy_port_is_refused_in_french(workdir: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = ["serve", "--port", str(port)]
        result = CliRunner().invoke(main, argv)
    _check_french_line(argv, result)
    assert f"--port : port déjà utilisé par un autre programme ; 127.0.0.1:{port}" in result.output


@given(st.text(max_size=12))
def test_a_wrong_departement_is_never_a_traceback(value: str) -> None:
    """Whatever is typed after --departement: a diagnostic of a programme département, or
    exit 2 with the French line (checked here on the parameter alone: nothing is computed)."""
    from service.cli.usage import DEPARTEMENT, CliInvalid, translate

    command = main.get_command(click.Context(main), "territoire")
    assert isinstance(command, click.Group)
    diagnostic = command.get_command(click.Context(command), "diagnostic")
    assert diagnostic is not None
    param = next(p for p in diagnostic.params if p.name == "departement")
    ctx = click.Context(diagnostic)
    try:
        code = DEPARTEMENT.convert(value, param, ctx)
    except click.BadParameter as exc:
        line = translate(exc, diagnostic, ctx, ["--departement", value]).format_message()
        assert isinstance(translate(exc, diagnostic, ctx, []), CliInvalid)
        assert line.startswith("entrée invalide : --departement : département attendu")
    else:
        from geodata import programme_departements

        assert code in programme_departements()


# -- ALLOCATOR_PUBLIC_URL: the address the letters cite ---------------------------------------

#: Every command that writes decision letters (or starts the service that does), with arguments
#: that would otherwise run it: a wrong public address stops each before anything is computed.
WRITES_LETTERS = {
    "allocate": ["fichier.json"],
    "demo": [],
    "serve": ["--port", "1"],
    "round draft": ["--mois", "2021-06"],
    "round override": ["1", "--idpg", "1", "--nombre", "0", "--motif", "arbitrage"],
    "round commit": ["1"],
    "round replay": ["--tous"],
    "round export": ["1"],
    "scenario compare": ["--demo", "tour"],
}
BAD_URLS = ["conseillers.gouv.fr", "https://conseillers.gouv.fr/?a=1", "ftp://x.fr", "https://"]


def test_the_commands_that_write_letters_are_those_checked() -> None:
    checked = {" ".join(p) for p, c in LEAVES if getattr(c.callback, "writes_letters", False)}
    assert checked == set(WRITES_LETTERS)


@pytest.mark.parametrize("bad", BAD_URLS)
@pytest.mark.parametrize("command", sorted(WRITES_LETTERS))
def test_a_wrong_public_url_stops_every_command_that_writes_letters(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, command: str, bad: str
) -> None:
    monkeypatch.setenv("ALLOCATOR_PUBLIC_URL", bad)
    argv = [*command.split(), *WRITES_LETTERS[command]]
    result = CliRunner().invoke(main, argv)
    shown = f"allocator {' '.join(argv)} → exit {result.exit_code}:\n{result.output}"
    assert result.exit_code == 2 and "Traceback" not in result.output, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "configuration invalide : ALLOCATOR_PUBLIC_URL doit être une adresse absolue en http ou "
        "https, sans paramètres ni fragment (par exemple https://conseillers.exemple.gouv.fr) : "
        f"reçu {bad!r}."
    ], shown
    assert not (workdir / "store.sqlite3").exists()  # refused before the store is opened


def test_a_wrong_public_url_met_by_any_other_command_is_one_french_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command that writes letters without saying so still ends in the French line (the
    root group checks the address when a ValueError escapes a command)."""
    from service.application import notice
    from service.explanations.legal import public_url

    monkeypatch.setenv("ALLOCATOR_PUBLIC_URL", "conseillers.gouv.fr")
    monkeypatch.setattr(notice, "render", lambda fmt: public_url())
    result = CliRunner().invoke(main, ["notice"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.startswith("configuration invalide : ALLOCATOR_PUBLIC_URL doit être")
    monkeypatch.setenv("ALLOCATOR_PUBLIC_URL", "https://conseillers.exemple.gouv.fr")
    monkeypatch.setattr(notice, "render", lambda fmt: int("pas un nombre"))
    assert isinstance(CliRunner().invoke(main, ["notice"]).exception, ValueError)  # a bug stays one


def test_the_service_and_the_command_line_refuse_the_same_address_alike(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.app import create_app
    from service.cli.usage import CliConfigInvalid, public_url

    monkeypatch.setenv("ALLOCATOR_INSTANCE_PATH", str(workdir / "instance"))
    monkeypatch.setenv("ALLOCATOR_PUBLIC_URL", "https://conseillers.exemple.gouv.fr/")
    assert public_url() == "https://conseillers.exemple.gouv.fr"
    monkeypatch.setenv("ALLOCATOR_PUBLIC_URL", "conseillers.gouv.fr")
    with pytest.raises(CliConfigInvalid) as cli:
        public_url()
    with pytest.raises(RuntimeError) as app:
        create_app({"DATABASE_URL": f"sqlite:///{workdir / 'app.sqlite3'}"})
    assert str(app.value) == cli.value.message


def test_serve_with_a_wrong_setting_is_one_french_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOCATOR_INSTANCE_PATH", str(workdir / "instance"))
    monkeypatch.setenv("ALLOCATOR_ENV", "production")
    monkeypatch.delenv("ALLOCATOR_SECRET_KEY", raising=False)
    import socket

    with socket.socket() as probe:  # a free port: the listening check passes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.startswith("configuration invalide : "), result.output
    assert "ALLOCATOR_SECRET_KEY" in result.output and len(result.output.strip().splitlines()) == 1
