"""When widgets.interact shows live sliders and when the static grid (issue 13, section 1).

Colab ships ipywidgets 7.x and renders it with its own manager; 8.x there needs
``google.colab.output.enable_custom_widget_manager()``. Without a kernel, without
ipywidgets, or in batch (MBDL_STATIC_WIDGETS=1) the static figure is drawn."""
import sys
import types

import matplotlib.pyplot as plt
import pytest

from mbdl_teach import widgets


class _Shell:
    kernel = object()


@pytest.fixture
def kernel(monkeypatch):
    """Pretend to run inside an IPython kernel; no batch flag, no Colab."""
    monkeypatch.delenv("MBDL_STATIC_WIDGETS", raising=False)
    monkeypatch.setattr("IPython.get_ipython", lambda: _Shell())
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab.output", raising=False)


def _fake_colab(monkeypatch, manager_ok=True):
    calls = []
    output = types.ModuleType("google.colab.output")

    def enable():
        calls.append("enabled")
        if not manager_ok:
            raise RuntimeError("no custom widget manager")

    output.enable_custom_widget_manager = enable
    colab = types.ModuleType("google.colab")
    colab.output = output
    google = sys.modules.get("google") or types.ModuleType("google")
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setattr(google, "colab", colab, raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    return calls


def _ipywidgets_version(monkeypatch, version):
    import ipywidgets

    monkeypatch.setattr(ipywidgets, "__version__", version)


def test_live_in_a_kernel(kernel):
    assert widgets.is_live()


@pytest.mark.parametrize("value", ["1", "true", "yes", "TRUE"])
def test_static_when_the_batch_flag_is_set(kernel, monkeypatch, value):
    monkeypatch.setenv("MBDL_STATIC_WIDGETS", value)
    assert not widgets.is_live()


def test_static_without_a_kernel(monkeypatch):
    monkeypatch.delenv("MBDL_STATIC_WIDGETS", raising=False)
    monkeypatch.setattr("IPython.get_ipython", lambda: None)
    assert not widgets.is_live()

    class Terminal:  # a terminal IPython has a shell but no kernel
        pass

    monkeypatch.setattr("IPython.get_ipython", lambda: Terminal())
    assert not widgets.is_live()


def test_static_without_ipywidgets(kernel, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import raises ImportError
    assert not widgets.is_live()
    monkeypatch.setattr("IPython.get_ipython", lambda: None)  # pyplot asks the shell too
    seen = []
    fig = widgets.interact(lambda ax, t: seen.append(t), static=[1, 2], t=(0, 3, 1))  # no live=
    assert seen == [1, 2] and isinstance(fig, plt.Figure)
    plt.close(fig)


def test_static_with_an_unknown_ipywidgets(kernel, monkeypatch):
    _ipywidgets_version(monkeypatch, "9.0.0")
    assert not widgets.is_live()


def test_colab_with_ipywidgets_7_needs_nothing(kernel, monkeypatch):
    calls = _fake_colab(monkeypatch)
    _ipywidgets_version(monkeypatch, "7.7.1")
    assert widgets.is_live() and calls == []


def test_colab_with_ipywidgets_8_enables_the_custom_manager(kernel, monkeypatch):
    calls = _fake_colab(monkeypatch)
    _ipywidgets_version(monkeypatch, "8.1.5")
    assert widgets.is_live() and calls == ["enabled"]


def test_colab_with_ipywidgets_8_and_no_manager_falls_back(kernel, monkeypatch):
    calls = _fake_colab(monkeypatch, manager_ok=False)
    _ipywidgets_version(monkeypatch, "8.1.5")
    assert not widgets.is_live() and calls == ["enabled"]


def test_live_slider_is_a_float_slider_in_an_interactive(kernel):
    ui = widgets.interact(lambda ax, s: ax.plot([0, s]), s=(0.0, 2.0, 0.5, 1.0))
    import ipywidgets

    assert isinstance(ui, ipywidgets.interactive)
    slider = ui.children[0]
    assert isinstance(slider, ipywidgets.FloatSlider) and slider.value == 1.0
    assert slider.continuous_update is False
    plt.close("all")
