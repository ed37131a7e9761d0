"""Plugins found without importlib.metadata (tapelint/entry_points.py): the same distributions it
finds, or no answer where it would look elsewhere."""

from __future__ import annotations

import importlib.metadata
import sys
import zipfile
from pathlib import Path

import pytest

from tapelint import entry_points


def _dist(site: Path, name: str, entry_points_txt: str | None, suffix: str = ".dist-info") -> Path:
    info = site / f"{name.replace('-', '_')}-1.0{suffix}"
    info.mkdir(parents=True)
    (info / ("METADATA" if suffix == ".dist-info" else "PKG-INFO")).write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if entry_points_txt is not None:
        (info / "entry_points.txt").write_text(entry_points_txt)
    return info


@pytest.fixture
def sites(tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two"
    _dist(one, "rules-pack", "[console_scripts]\nx = m:f\n\n[tapelint]\npack = rules_pack.plugin\n")
    _dist(one, "unrelated", "[console_scripts]\ntapelint-ish = m:f\n")
    _dist(one, "no-entry-points", None)
    _dist(one, "spaced", "[ tapelint ]\nnot_a_group = spaced\n")  # importlib.metadata reads " tapelint "
    _dist(two, "old-style", "[tapelint]\nold = old_style\n", suffix=".egg-info")
    (two / "loose.egg-info").write_text("Metadata-Version: 1.0\nName: loose\n")  # an egg-info file
    monkeypatch.setattr(sys, "path", [str(one), str(tmp_path / "missing"), str(two)])
    return one, two


def test_the_distributions_declaring_tapelint_entry_points_are_those_importlib_metadata_finds(sites):
    one, two = sites
    found = entry_points.declared()
    assert [Path(path).name for path, _text in found] == ["rules_pack-1.0.dist-info", "old_style-1.0.egg-info"]
    expected = sorted((ep.dist.name, ep.name) for ep in importlib.metadata.entry_points(group="tapelint"))
    assert expected == [("old-style", "old"), ("rules-pack", "pack")]
    assert not entry_points.none_installed()


def test_an_egg_on_sys_path_and_any_case_of_the_suffixes_count_as_importlib_metadata_counts(tmp_path, monkeypatch):
    egg = tmp_path / "legacy_pack-1.0-py3.11.egg"
    (egg / "EGG-INFO").mkdir(parents=True)
    (egg / "EGG-INFO" / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy-pack\nVersion: 1.0\n")
    (egg / "EGG-INFO" / "entry_points.txt").write_text("[tapelint]\nlegacy = legacy_pack\n")
    site = tmp_path / "site"
    _dist(site, "Upper-Pack", "[tapelint]\nupper = upper_pack\n", suffix=".DIST-INFO")
    monkeypatch.setattr(sys, "path", [str(egg), str(site)])
    assert sorted(Path(path).name for path, _text in entry_points.declared()) == ["EGG-INFO", "Upper_Pack-1.0.DIST-INFO"]
    assert sorted(ep.name for ep in importlib.metadata.entry_points(group="tapelint")) == ["legacy", "upper"]


def test_without_a_declaration_none_is_installed_as_importlib_metadata_says(tmp_path, monkeypatch):
    _dist(tmp_path, "unrelated", "[console_scripts]\ntapelint = m:f\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert entry_points.declared() == ()
    assert entry_points.none_installed()
    assert list(importlib.metadata.entry_points(group="tapelint")) == []


def test_this_environment_agrees_with_importlib_metadata():
    declared = entry_points.declared()
    assert declared is not None
    assert bool(declared) == bool(list(importlib.metadata.entry_points(group="tapelint")))


def test_a_zip_on_sys_path_is_left_to_importlib_metadata(sites, tmp_path, monkeypatch):
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("zipped-1.0.dist-info/entry_points.txt", "[tapelint]\nz = zipped\n")
        bundle.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
    monkeypatch.setattr(sys, "path", [*sys.path, str(archive)])
    assert entry_points.declared() is None
    assert not entry_points.none_installed()
    assert "zipped" in {ep.dist.name for ep in importlib.metadata.entry_points(group="tapelint")}


def test_a_finder_of_distributions_is_left_to_importlib_metadata(sites, monkeypatch):
    class Finder:
        def find_spec(self, *args, **kwargs):
            return None

        def find_distributions(self, context=None):
            return iter(())

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder()])
    assert entry_points.declared() is None


def test_the_catalog_key_changes_when_a_plugin_is_installed(tmp_path, monkeypatch):
    from tapelint import manifest

    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    before = manifest.signature()
    _dist(tmp_path / "site", "rules-pack", "[tapelint]\npack = rules_pack.plugin\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), str(tmp_path / "site")])
    assert manifest.signature() != before
