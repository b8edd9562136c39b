import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from mbdl_teach import plotting, widgets


def test_show_images_accepts_tensor_and_array_layouts():
    ims = [torch.rand(1, 8, 8), torch.rand(3, 8, 8), np.random.rand(8, 8), torch.rand(1, 1, 8, 8)]
    fig = plotting.show_images(ims, titles=list("abcd"))
    assert len([a for a in fig.axes if a.images]) == 4
    assert plotting.to_numpy_image(ims[1]).shape == (8, 8, 3)
    plt.close(fig)
    with pytest.raises(ValueError, match="4 images but 2 titles"):
        plotting.show_images(ims, titles=["a", "b"])
    with pytest.raises(ValueError, match="batch of 2"):
        plotting.to_numpy_image(torch.rand(2, 1, 8, 8))


def test_plot_curves_and_table():
    ax = plotting.plot_curves({"a": [1, 2, 3], "b": ([1, 10, 100], [3, 2, 1])}, logx=True)
    assert len(ax.lines) == 2 and ax.get_xscale() == "log"
    plt.close(ax.figure)
    table = plotting.format_table([["x", 1.234], ["yy", 10.0]], ["name", "psnr"])
    assert table.splitlines()[2].split() == ["x", "1.23"] and table.splitlines()[1].startswith("----")
    with pytest.raises(ValueError, match="cells"):
        plotting.format_table([[1]], ["a", "b"])


def test_interact_static_grid(monkeypatch):
    monkeypatch.setenv("MBDL_STATIC_WIDGETS", "1")
    assert not widgets.is_live()
    seen = []

    def draw(ax, t):
        seen.append(t)
        ax.plot([0, 1], [0, t])

    fig = widgets.interact(draw, static=[0.1, 0.5, 0.9], t=(0.0, 1.0, 0.1))
    assert seen == [0.1, 0.5, 0.9] and len(fig.axes) == 3
    assert "t = 0.5" in fig.axes[1].get_xlabel()
    plt.close(fig)


def test_interact_live_builds_a_slider():
    fig_calls = []
    ui = widgets.interact(lambda ax, t: fig_calls.append(t), live=True, t=(0.0, 2.0, 0.5, 1.5))
    slider = ui.children[0]
    assert slider.description == "t" and slider.value == 1.5 and slider.max == 2.0
    plt.close("all")


def test_interact_bad_input():
    with pytest.raises(ValueError, match="exactly one slider"):
        widgets.interact(lambda ax, a, b: None, a=(0, 1, 0.1), b=(0, 1, 0.1))
    with pytest.raises(ValueError, match="min < max"):
        widgets.interact(lambda ax, a: None, a=(1, 0, 0.1))
    with pytest.raises(TypeError, match="callable"):
        widgets.interact(None, a=(0, 1, 0.1))


def test_plot_winnet_diagram_draws_the_blocks_within_the_page_width():
    fig = plotting.plot_winnet_diagram(detail_channels=15)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("15 details" in t for t in texts) and any("DCT split" in t for t in texts)
    assert len(fig.axes[0].patches) == 8  # six boxes in the row, LISTA and the coarse channel
    assert fig.get_size_inches()[0] <= 7.5
    plt.close(fig)
    _, ax = plt.subplots()
    assert plotting.plot_winnet_diagram(ax=ax) is ax.figure
    plt.close(ax.figure)


def test_label_peaks_lifts_names_that_would_overlap():
    fig, ax = plt.subplots()
    ax.plot([0, 10], [0, 1])
    got = plotting.label_peaks(ax, [5.0, 1.0, 5.2, 5.3, 9.0], [0.9, 0.5, 0.6, 0.7, 0.2],
                               ["c", "a", "d", "e", "f"], min_gap=0.35)
    assert [a.get_text() for a in got] == ["a", "c", "d", "e", "f"]
    lifts = [a.xyann[1] for a in got]  # offsets in points
    assert lifts == [3, 3, 13, 23, 3]
    anchors = [a.xy[1] for a in got]  # a crowded name above the highest peak of its cluster
    assert anchors == [0.5, 0.9, 0.9, 0.9, 0.2]
    fig.canvas.draw()  # and the drawn boxes of the crowded names do not overlap
    boxes = [a.get_window_extent() for a in got[1:4]]
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(3) for j in range(i + 1, 3))
    plt.close(fig)
    with pytest.raises(ValueError, match="one length"):
        plotting.label_peaks(ax, [1.0], [1.0, 2.0], ["a"], min_gap=0.3)
