"""Configuration: where it is found, what it may say, how it merges with the command line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tapelint import cli, registry
from tapelint.config import (
    Overrides,
    RuleSelection,
    find_config,
    resolve_selection,
    resolve_settings,
)
from tapelint.errors import ConfigError, UsageError

PLUGIN = Path(__file__).resolve().parent / "data" / "plugin" / "tapelint_fake_plugin.py"
_spec = importlib.util.spec_from_file_location("tapelint_fake_plugin_config", PLUGIN)
plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plugin)
CATALOG = plugin.CATALOG  # TX001, TX002, TX003 on by default; TX010 off; TX020 on


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "all_rules", lambda: dict(CATALOG))
    monkeypatch.setattr(registry, "plugin_output_formats", lambda: {})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def tapelint(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def codes(capsys, *argv) -> list[str]:
    code, out, err = tapelint(capsys, "--output-format", "json", *argv)
    assert "error" not in err, err
    return [d["code"] for d in json.loads(out)]


# -- rule selection as ruff resolves it --------------------------------------------------------------------
def select(*layers: RuleSelection) -> list[str]:
    return sorted(resolve_selection(layers, CATALOG))


def test_defaults_are_the_default_enabled_rules():
    assert select() == ["TX001", "TX002", "TX003", "TX020"]
    assert select(RuleSelection(), RuleSelection()) == ["TX001", "TX002", "TX003", "TX020"]


def test_a_later_select_replaces_everything_before_it():
    config = RuleSelection(select=("TX001",), ignore=("TX002",))
    assert select(config, RuleSelection(select=("TX0",))) == ["TX001", "TX002", "TX003", "TX010", "TX020"]


def test_later_ignore_and_extend_select_adjust_the_earlier_selection():
    config = RuleSelection(select=("TX001", "TX002"))
    assert select(config, RuleSelection(ignore=("TX001",))) == ["TX002"]
    assert select(config, RuleSelection(extend_select=("TX010",))) == ["TX001", "TX002", "TX010"]


def test_specificity_within_a_layer():
    assert select(RuleSelection(select=("TX001",), ignore=("TX0",))) == ["TX001"]
    assert select(RuleSelection(select=("ALL",), ignore=("TX00",))) == ["TX010", "TX020"]
    assert select(RuleSelection(ignore=("ALL",), extend_select=("TX01",))) == ["TX010"]
    assert select(RuleSelection(select=("TX0",), ignore=("TX0",))) == []  # tie: ignore wins


def test_empty_select_with_ignores_carries_the_ignores_to_the_next_layer():
    config = RuleSelection(select=(), ignore=("TX002",))
    assert select(config) == []
    assert select(config, RuleSelection(select=("TX00",))) == ["TX001", "TX003"]


# -- finding the configuration file -----------------------------------------------------------------------
def test_nearest_config_upwards_and_pyproject_needs_the_table(tmp_path):
    write(tmp_path, {
        "pyproject.toml": "[tool.tapelint]\nselect = ['TX001']\n",
        "pkg/pyproject.toml": "[tool.black]\nline-length = 100\n",
        "pkg/deep/x.py": "",
    })
    assert find_config(tmp_path / "pkg" / "deep") == tmp_path / "pyproject.toml"
    write(tmp_path, {"pkg/tapelint.toml": "select = ['TX002']\n"})
    assert find_config(tmp_path / "pkg" / "deep") == tmp_path / "pkg" / "tapelint.toml"


def test_dot_tapelint_toml_beats_tapelint_toml_beats_pyproject(tmp_path):
    write(tmp_path, {"pyproject.toml": "[tool.tapelint]\n", "tapelint.toml": ""})
    assert find_config(tmp_path) == tmp_path / "tapelint.toml"
    write(tmp_path, {".tapelint.toml": ""})
    assert find_config(tmp_path) == tmp_path / ".tapelint.toml"


# -- what the configuration does ------------------------------------------------------------------------------
def test_config_selection_applies(project, capsys):
    write(project, {"pyproject.toml": "[tool.tapelint]\nselect = ['TX002', 'TX010']\n",
                    "a.py": "bug_one\nbug_two\nbug_ten\n"})
    assert codes(capsys) == ["TX002", "TX010"]


def test_command_line_overrides_config(project, capsys):
    write(project, {"pyproject.toml": "[tool.tapelint]\nselect = ['TX002']\nignore = ['TX001']\n",
                    "a.py": "bug_one\nbug_two\nbug_ten\n"})
    assert codes(capsys, "--select", "TX001") == ["TX001"]          # select starts afresh
    assert codes(capsys, "--extend-select", "TX010") == ["TX002", "TX010"]
    assert codes(capsys, "--ignore", "TX002") == []


def test_config_found_from_a_subdirectory_and_paths_relative_to_it(project, capsys, monkeypatch):
    write(project, {
        "pyproject.toml": "[tool.tapelint]\nextend-exclude = ['src/generated']\n"
                          "[tool.tapelint.per-file-ignores]\n'src/tests/*.py' = ['TX001']\n",
        "src/generated/g.py": "bug_one\n",
        "src/tests/t.py": "bug_one\nbug_two\n",
        "src/m.py": "bug_one\n",
    })
    monkeypatch.chdir(project / "src")
    code, out, _ = tapelint(capsys, "--output-format", "concise")
    assert out == ("m.py:1:1: TX001 first marker found\n"
                   "tests/t.py:2:1: TX002 second marker found\n")


def test_per_file_ignores_with_prefixes_and_basename_patterns(project, capsys):
    write(project, {
        "tapelint.toml": "[per-file-ignores]\n'__init__.py' = ['TX0']\n'b.py' = ['TX002']\n",
        "pkg/__init__.py": "bug_one\nbug_two\n",
        "b.py": "bug_one\nbug_two\n",
    })
    code, out, _ = tapelint(capsys, "--output-format", "concise")
    assert out == "b.py:1:1: TX001 first marker found\n"


def test_explicit_config_file_without_prefix(project, capsys):
    write(project, {"ci/strict.toml": "select = ['ALL']\n", "a.py": "bug_ten\n"})
    assert codes(capsys) == []
    assert codes(capsys, "--config", "ci/strict.toml") == ["TX010"]


def test_explicit_pyproject_and_isolated(project, capsys):
    write(project, {"pyproject.toml": "[tool.tapelint]\nignore = ['TX001']\n", "a.py": "bug_one\nbug_two\n",
                    "other/pyproject.toml": "[tool.tapelint]\nselect = ['TX001']\n"})
    assert codes(capsys) == ["TX002"]
    assert codes(capsys, "--isolated") == ["TX001", "TX002"]
    assert codes(capsys, "--config", "other/pyproject.toml") == ["TX001"]


def test_respect_gitignore_from_config_and_command_line(project, capsys):
    write(project, {".gitignore": "ignored.py\n", "ignored.py": "bug_one\n",
                    "tapelint.toml": "respect-gitignore = false\n"})
    assert codes(capsys) == ["TX001"]
    assert codes(capsys, "--respect-gitignore") == []


def test_force_exclude_from_config(project, capsys):
    write(project, {"tapelint.toml": "extend-exclude = ['gen.py']\nforce-exclude = true\n", "gen.py": "bug_one\n"})
    assert codes(capsys, "gen.py") == []
    assert codes(capsys, "gen.py", "--no-force-exclude") == ["TX001"]


# -- configuration errors: exit 2, one line naming the file and the key -------------------------------------------
@pytest.mark.parametrize("files, message", [
    ({"pyproject.toml": "[tool.tapelint]\nselct = ['TX001']\n"},
     "pyproject.toml: unknown key 'selct' in [tool.tapelint] (did you mean 'select'?)"),
    ({"tapelint.toml": "colour = true\n"}, "tapelint.toml: unknown key 'colour' in top level"),
    ({"pyproject.toml": "[tool.tapelint]\nselect = 'TX001'\n"},
     "pyproject.toml: 'select' must be a list of strings, not a string"),
    ({"pyproject.toml": "[tool.tapelint]\nexclude = [1]\n"},
     "pyproject.toml: 'exclude' must be a list of strings, not a list holding an integer"),
    ({"pyproject.toml": "[tool.tapelint]\nrespect-gitignore = 'no'\n"},
     "pyproject.toml: 'respect-gitignore' must be true or false, not a string"),
    ({"pyproject.toml": "[tool.tapelint]\nper-file-ignores = ['x']\n"},
     "pyproject.toml: 'per-file-ignores' must be a table of pattern = [codes], not a list"),
    ({"pyproject.toml": "[tool.tapelint]\nignore = ['TX001', 'TX99']\n"},
     "pyproject.toml: 'ignore': unknown rule code or prefix 'TX99'"),
    ({"pyproject.toml": "[tool.tapelint.per-file-ignores]\n'tests/*' = ['TX7']\n"},
     "pyproject.toml: 'per-file-ignores' entry 'tests/*': unknown rule code or prefix 'TX7'"),
    ({"pyproject.toml": "[tool.tapelint]\nextend-select = ['TL999']\n"},
     "pyproject.toml: 'extend-select': TL999 is always reported and cannot be selected or ignored "
     "(exclude the file instead)"),
    ({"pyproject.toml": "[tool]\ntapelint = 3\n"}, "pyproject.toml: [tool.tapelint] must be a table"),
])
def test_config_errors(project, capsys, files, message):
    write(project, {**files, "a.py": "bug_one\n"})
    assert tapelint(capsys) == (2, "", f"tapelint: error: {message}\n")


def test_invalid_toml_is_one_line(project, capsys):
    write(project, {"pyproject.toml": "[tool.tapelint]\nselect = [\n", "a.py": "bug_one\n"})
    code, out, err = tapelint(capsys)
    assert (code, out) == (2, "")
    assert err.startswith("tapelint: error: pyproject.toml: invalid TOML: ") and err.count("\n") == 1


def test_config_in_a_parent_directory_is_named_by_path(project, capsys, monkeypatch):
    write(project, {"tapelint.toml": "selec = []\n", "sub/a.py": "bug_one\n"})
    monkeypatch.chdir(project / "sub")
    code, _, err = tapelint(capsys)
    assert code == 2
    assert err == f"tapelint: error: {project / 'tapelint.toml'}: unknown key 'selec' in top level (did you mean 'select'?)\n"


@pytest.mark.parametrize("argv, message", [
    (("--config", "missing.toml"), "--config: no such file: missing.toml"),
    (("--config", "pyproject.toml"), "pyproject.toml: no [tool.tapelint] table"),
])
def test_bad_config_option(project, capsys, argv, message):
    write(project, {"pyproject.toml": "[project]\nname = 'x'\n", "a.py": "bug_one\n"})
    assert tapelint(capsys, *argv) == (2, "", f"tapelint: error: {message}\n")


def test_resolve_settings_raises_the_errors_the_cli_reports(tmp_path):
    with pytest.raises(UsageError):
        resolve_settings(Overrides(), CATALOG, cwd=tmp_path, config_file="nope.toml")
    with pytest.raises(ConfigError):
        resolve_settings(Overrides(select=["NOPE"]), CATALOG, cwd=tmp_path, isolated=True)
    settings = resolve_settings(Overrides(select=["TX0"], ignore=["TX020"]), CATALOG, cwd=tmp_path, isolated=True)
    assert [r.code for r in settings.rules_for(tmp_path / "a.py")] == ["TX001", "TX002", "TX003", "TX010"]
