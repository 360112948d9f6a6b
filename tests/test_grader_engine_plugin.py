"""Finding the homework plug-in: entry points of ``autograder.homeworks``, ``module:attr``,
and the default when exactly one is installed."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from autograder import plugin as plugin_module
from autograder.config import PLUGIN_GROUP
from autograder.errors import PluginError
from autograder.plugin import load_plugin

TOY = EntryPoint("toy", "engine_scenarios.toy_plugin:plugin", PLUGIN_GROUP)
HW3 = EntryPoint("hw3", "hw3_plugin:plugin", PLUGIN_GROUP)


def _installed(monkeypatch: pytest.MonkeyPatch, *eps: EntryPoint) -> None:
    monkeypatch.setattr(plugin_module, "entry_points", lambda group: [
        ep for ep in eps if ep.group == group])


def test_the_kit_declares_hw3_and_it_is_the_default() -> None:
    assert "hw3" in plugin_module.installed_plugins()
    assert load_plugin(None).name == load_plugin("hw3").name == "hw3"


def test_an_entry_point_name_or_module_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, TOY, HW3)
    assert load_plugin("toy").name == "toy"
    assert load_plugin("engine_scenarios.toy_plugin:plugin").name == "toy"


def test_none_or_several_installed_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch)
    with pytest.raises(PluginError, match="no homework plug-in is installed"):
        load_plugin(None)
    _installed(monkeypatch, TOY, HW3)
    with pytest.raises(PluginError, match=r"2 homework plug-ins .*hw3 \(hw3_plugin:plugin\), "
                                          r"toy \(engine_scenarios.toy_plugin:plugin\)"):
        load_plugin("")
    with pytest.raises(PluginError, match=r"'hw4' is not installed \(installed: hw3"):
        load_plugin("hw4")


def test_a_broken_entry_point_says_which(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, EntryPoint("bad", "no_such_module:plugin", PLUGIN_GROUP))
    with pytest.raises(PluginError, match=r"'bad' \(no_such_module:plugin\) cannot be loaded"):
        load_plugin(None)
