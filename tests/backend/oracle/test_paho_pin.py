"""The oracle's MQTT client overrides private paho methods: it must refuse a paho minor it was not written for."""

from __future__ import annotations

import importlib
import sys

import paho.mqtt
import pytest


def test_service_imports_on_the_pinned_paho_minor():
    service = importlib.import_module("backend.oracle.service")
    major, minor = (int(part) for part in paho.mqtt.__version__.split(".")[:2])
    assert (major, minor) == service.PAHO_MINOR


@pytest.mark.parametrize("other_version", ["2.1.0", "2.3.0", "3.0.0"])
def test_service_refuses_another_paho_minor(monkeypatch, other_version):
    monkeypatch.setattr(paho.mqtt, "__version__", other_version)
    monkeypatch.delitem(sys.modules, "backend.oracle.service", raising=False)
    with pytest.raises(ImportError, match=f"found {other_version}"):
        importlib.import_module("backend.oracle.service")
