"""Every command-line example printed in ``--help``, the README and the docs runs as written.

Each example runs in process with ``--print-config`` appended: the configuration
is fully built and checked (as before any work) without running the study.
"""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from limitsolver.cli import SUBCOMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.rst"))]


def help_text(name: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name].format_help()


def help_examples():
    out = []
    for name in SUBCOMMANDS:
        text = " ".join(help_text(name).split())
        found = re.findall(r"e\.g\. (\S+=\S+)", text) + re.findall(
            rf"example: limitsolver {name} (.*?)(?:$| limitsolver )", text)
        assert found, f"`limitsolver {name} --help` shows no example"
        for ex in found:
            args = shlex.split(ex)
            out.append([name, *(args if args[0].startswith("--") else ["--set", *args])])
    return out


@pytest.mark.parametrize("argv", help_examples(), ids=" ".join)
def test_help_examples_run(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--print-config"]) == 0, capsys.readouterr().err


def doc_commands():
    """Shell lines of the bash blocks of the README and the docs, continuations joined."""
    out = []
    for path in DOCS:
        text = path.read_text()
        blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
        blocks += [m for m in re.findall(r"\.\. code-block:: bash\n\n((?:   .*\n|\n)+)", text)]
        for block in blocks:
            joined = re.sub(r"\\\n\s*", " ", block)
            lines = [ln.strip() for ln in joined.splitlines() if ln.strip()]
            if any("limitsolver " in ln for ln in lines):
                out.append((path.name, lines))
    return out


@pytest.mark.timeout(180)   # shell commands run as subprocesses: a hang fails fast
@pytest.mark.parametrize("doc, lines", doc_commands(), ids=[d for d, _ in doc_commands()])
def test_documented_commands_run(doc, lines, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for line in lines:
        line = line.split("#", 1)[0].strip() if not line.startswith("printf") else line
        if "limitsolver " not in line:
            if line.startswith("printf"):
                subprocess.run(["bash", "-c", line], check=True, cwd=tmp_path)
            continue
        cmd = line[line.index("limitsolver "):]
        argv = shlex.split(cmd)[1:]
        assert argv[0] in SUBCOMMANDS, line
        code = main([*argv, "--print-config"])
        assert code == 0, f"{doc}: `{cmd}` -> {capsys.readouterr().err}"


def test_the_broken_example_of_old_help_is_refused(capsys):
    # the key is problem.network.beta; network.beta names no table of `solve`
    assert main(["solve", "--set", "network.beta=0.6", "--print-config"]) == 2
    assert "`network`" in capsys.readouterr().err
