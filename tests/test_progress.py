"""The progress bar that fits where it is shown (progress.progress_bar)."""

import pytest
import torch
from tqdm import tqdm as text_tqdm

from mbdl_teach import progress, training, widgets


def test_text_progress_prints_one_line_when_it_closes(capsys):
    bar = progress.TextProgress(total=5, desc="training", initial=1)
    for _ in range(4):
        bar.update(1)
    bar.set_postfix(loss="0.0123")
    assert capsys.readouterr().out == ""  # nothing while it runs
    bar.close()
    bar.close()  # closing twice prints once
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("training: 5/5 in ")
    assert out[0].endswith(" s, loss 0.0123")


def test_text_progress_wraps_an_iterable(capsys):
    seen = list(progress.TextProgress(range(3), desc="sampling"))
    assert seen == [0, 1, 2]
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("sampling: 3/3 in ")


def test_progress_bar_picks_text_in_a_kernel_that_cannot_show_widgets(monkeypatch):
    assert isinstance(progress.progress_bar(total=2), text_tqdm)  # a script: tqdm's text bar
    monkeypatch.setattr(progress, "_in_kernel", lambda: True)
    monkeypatch.setenv(progress.ENV_STATIC, "1")  # the book's batch execution
    assert isinstance(progress.progress_bar(total=2), progress.TextProgress)


def test_fit_shows_its_progress_as_one_line_on_a_batch_executed_page(monkeypatch, capsys):
    monkeypatch.setattr(progress, "_in_kernel", lambda: True)
    monkeypatch.setenv(progress.ENV_STATIC, "1")
    net = torch.nn.Linear(2, 1)
    x = torch.randn(8, 2)
    training.fit(net, lambda m, b: (m(b) ** 2).mean(), lambda step, g: x, n_steps=6,
                 lr=1e-2, progress=True, desc="toy")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("toy")]
    assert len(lines) == 1 and lines[0].startswith("toy: 6/6 in ")
    assert "loss " in lines[0]


@pytest.mark.parametrize("bad", [None])
def test_text_progress_without_total_says_the_count(capsys, bad):
    bar = progress.TextProgress(total=bad, desc="steps")
    bar.update(3)
    bar.close()
    assert capsys.readouterr().out.startswith("steps: 3 in ")


def test_widgets_shows_the_same_functions():
    assert widgets.is_live is progress.is_live and widgets.progress_bar is progress.progress_bar
