"""The CLI behaves as forge, cast and other typer/rich CLIs do.

Results on stdout (so they pipe and redirect), progress and warnings on stderr; help that
shows flags as flags and choices as choices; `--version`, `-h`; and every hint the code
can print names a command and flags that exist (checked over the source, statically, so
a hint no test reaches is checked too).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from conftest import run_cli

from prover.cli import app

ROOT = Path(__file__).resolve().parent.parent
COMMAND = re.compile(r"`prover ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?([^`]*)`")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands")  # typer vendors its own click: no isinstance(click.Group)


def _tree() -> Any:
    command = typer.main.get_command(app)
    assert _is_group(command)
    return command


def _options(command: Any) -> set[str]:
    return {option for param in command.params for option in (*param.opts, *param.secondary_opts)}


def _all_options(group: Any) -> set[str]:
    found = {"--help", "--version"}
    for command in group.commands.values():
        found |= _options(command)
        if _is_group(command):
            found |= _all_options(command)
    return found


def _strings_in(node: ast.AST) -> Iterator[str]:
    """String constants and the literal parts of f-strings under `node`."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value


def _hints() -> Iterator[tuple[str, str]]:
    """(where, text) of every `hint=` argument, every `default_hint` and every error
    message that tells the user to run something, in the package."""
    for path in sorted((ROOT / "prover").rglob("*.py")) + sorted((ROOT / "models").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if (isinstance(node, ast.keyword) and node.arg == "hint") or (
                isinstance(node, ast.Assign)
                and any(
                    isinstance(t, ast.Name) and t.id in ("default_hint", "SIGNER_HINT", "IMPORT_HINT")
                    for t in node.targets
                )
            ):
                yield from ((where, text) for text in _strings_in(node.value))
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "").endswith("Error"):
                yield from ((where, text) for arg in node.args for text in _strings_in(arg) if "`prover " in text)


def test_every_hint_names_commands_and_flags_that_exist() -> None:
    group = _tree()
    every_option = _all_options(group)
    problems, checked = [], 0
    for where, text in _hints():
        for name, sub, tail in COMMAND.findall(text):
            checked += 1
            rest = tail
            command = group.commands.get(name)
            if command is None:
                problems.append(f"{where}: `prover {name}` is not a command ({text!r})")
                continue
            if _is_group(command) and (sub or rest.strip()):
                if sub not in command.commands:
                    problems.append(f"{where}: `prover {name} {sub}` is not a command ({text!r})")
                    continue
                command = command.commands[sub]
            elif sub:
                rest = f" {sub}{rest}"
            known = _options(command) | {"--help"}
            problems += [
                f"{where}: `prover {name}` has no {flag} ({text!r})" for flag in FLAG.findall(rest) if flag not in known
            ]
        for flag in FLAG.findall(COMMAND.sub("", text)):
            checked += 1
            if flag not in every_option:
                problems.append(f"{where}: no command has {flag} ({text!r})")
    assert checked > 40, checked  # the scan really reads the hints
    assert not problems, "\n".join(problems)


def test_the_hint_scan_catches_a_made_up_command_and_flag() -> None:
    """The check above can fail: a hint with a command or flag that does not exist is caught."""
    group = _tree()
    assert "frobnicate" not in group.commands
    assert "--no-such-flag" not in _all_options(group)
    assert COMMAND.findall("run `prover frobnicate fee --no-such-flag`") == [("frobnicate", "fee", " --no-such-flag")]


def test_results_go_to_stdout_so_they_pipe() -> None:
    models = run_cli("models")
    assert models.code == 0, models.stderr
    assert "fee" in models.stdout and "digits" in models.stdout
    consumers = run_cli("consumers")
    assert "AdaptiveFeePool" in consumers.stdout


def test_inspect_redirects_to_a_file(built: Path) -> None:
    result = run_cli("inspect", "fee", "--workdir", built)
    assert result.code == 0, result.stderr
    assert "logrows" in result.stdout


def test_version_and_short_help() -> None:
    for flag in ("--version", "-V"):
        result = run_cli(flag)
        assert result.code == 0 and re.fullmatch(r"prover \d+\.\d+\.\d+\S*\n", result.stdout), result
    for args in (["-h"], ["build", "-h"], ["account", "-h"], ["account", "import", "-h"]):
        result = run_cli(*args)
        assert result.code == 0 and result.stdout.startswith("Usage:"), (args, result.stderr)


def test_help_shows_flags_as_flags_and_choices_as_choices() -> None:
    """typer's rich help labelled `--json <bool>` though `--json true` is an error."""
    build = run_cli("build", "--help").stdout
    assert "<bool>" not in build
    assert "<tuned|manual|ezkl-default>" in build and "<prove|gas|balanced>" in build
    assert "<calibration|input-box>" in build and "<public|private|hashed>" in build
    assert re.search(r"--json\s+Print", run_cli("prove", "--help").stdout)
    assert run_cli("models", "--json", "true").code == 2  # a flag takes no value, as help now shows


@pytest.mark.parametrize(
    "args",
    [
        ["--settings", "fastest"],
        ["--objective", "cheap"],
        ["--coverage", "all"],
        ["--input-visibility", "fixed"],
    ],
)
def test_a_value_outside_the_choices_is_refused_before_any_work(args: list[str], tmp_path: Path) -> None:
    result = run_cli("build", "fee", *args, "--workdir", tmp_path)
    assert result.code == 2 and "Invalid value" in result.stderr, result.stderr
    assert not (tmp_path / "circuits").exists()


def test_a_piped_demo_table_keeps_its_natural_width(capsys: pytest.CaptureFixture[str]) -> None:
    """`make demo | less` has no terminal width: the table is printed whole, not squeezed
    into 80 columns with every figure cut to an ellipsis."""
    from prover.cli.render import print_demo

    columns = [f"a rather long column name {k}" for k in range(6)]
    print_demo("title", columns, [[f"{1234567 * k:,}" for k in range(6)]], ["a fact"])
    printed = capsys.readouterr().out
    assert "…" not in printed and max(len(line) for line in printed.splitlines()) > 80
    assert all(name in printed for name in columns) and "6,172,835" in printed
