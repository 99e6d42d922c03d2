"""``nurture init``: a workspace that stands on its own (schemas, README, .gitignore)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from journey import NURTURE, Workspace, base_env

SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


class Yaml12(yaml.SafeLoader):
    """YAML 1.2 booleans, as an editor's language server reads them: `on:` is a key."""


Yaml12.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), "tf")


def _load(text: str) -> object:
    return yaml.load(text, Loader=Yaml12)  # a SafeLoader: no arbitrary objects


def _yaml_files(root: Path) -> list[Path]:
    return [root / "nurture.yaml", *sorted(root.glob("sequences/*.yaml")),
            *sorted(root.glob("campaigns/*.yaml"))]  # fmt: skip


def test_every_schema_comment_resolves_inside_the_workspace(ws: Workspace) -> None:
    files = _yaml_files(ws.root)
    assert len(files) == 9
    for file in files:
        first = file.read_text(encoding="utf-8").splitlines()[0]
        match = SCHEMA_LINE.match(first)
        assert match, f"{file}: no $schema line"
        schema_path = (file.parent / match.group(1)).resolve()
        assert schema_path.is_relative_to(ws.root.resolve()), f"{file}: {schema_path}"
        assert schema_path.is_file(), f"{file}: {schema_path} does not exist"


def test_each_yaml_file_validates_against_its_schema(ws: Workspace) -> None:
    for file in _yaml_files(ws.root):
        text = file.read_text(encoding="utf-8")
        match = SCHEMA_LINE.match(text.splitlines()[0])
        assert match
        schema = yaml.safe_load((file.parent / match.group(1)).read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator(schema).validate(_load(text))


def test_a_wrong_key_fails_the_schema_too(ws: Workspace) -> None:
    """The schemas are strict, so an editor flags what `nurture validate` would refuse."""
    file = ws.root / "campaigns" / "backend-engineers-q1.yaml"
    data = _load(file.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    data["shedule"] = data.pop("schedule")
    schema = yaml.safe_load((ws.root / "schemas" / "campaign.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError, match="shedule"):
        jsonschema.Draft202012Validator(schema).validate(data)


def test_init_in_a_fresh_git_repository_ignores_what_nurture_writes(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "recruiting"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    env = base_env(tmp_path)
    done = subprocess.run([str(NURTURE), "init", str(root)], env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    ws = Workspace(root, env)
    ws.nurture("talents", "import", "talents.csv", "--now", "2026-03-02T08:00:00+00:00")
    ws.nurture("run", "backend-engineers-q1", "--now", "2026-03-02T09:00:00+01:00",
               "--no-prefect")  # fmt: skip
    assert any((root / "outbox").iterdir()) and (root / "nurture.db").is_file()
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "-uall"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    tracked = {line[3:] for line in status.splitlines()}
    assert "README.md" in tracked and "schemas/sequence.schema.json" in tracked
    assert not {p for p in tracked if p.startswith(("outbox/", ".nurture/", "nurture.db"))}


def test_init_refuses_a_folder_with_files_and_names_it(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "todo.txt").write_text("hire", encoding="utf-8")
    done = subprocess.run([str(NURTURE), "init", str(root)], env=base_env(tmp_path),
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 1
    assert f"{root} is not empty (todo.txt)" in done.stderr
    assert "--workspace" not in done.stderr  # init takes a folder argument, not an option
    assert "Traceback" not in done.stderr
    assert [p.name for p in root.iterdir()] == ["todo.txt"]


def test_the_readme_commands_run_in_the_workspace(ws: Workspace) -> None:
    readme = (ws.root / "README.md").read_text(encoding="utf-8")
    block = SH_BLOCK.search(readme)
    assert block, "README.md has no sh block of first commands"
    commands = [shlex.split(line, comments=True) for line in block.group(1).splitlines()]
    names = {words[1] for words in commands}
    assert {"validate", "talents", "preview", "run", "serve"} <= names
    for line, words in zip(block.group(1).splitlines(), commands, strict=True):
        assert words[0] == "nurture", line
        if "runs until stopped" in line:
            assert "--help" not in words
            ws.nurture(words[1], "--help")  # a server: its help shows it is there
            continue
        ws.nurture(*words[1:], timeout=300)
    assert "backend-engineers-q1" in ws.nurture("campaigns", "list").out
