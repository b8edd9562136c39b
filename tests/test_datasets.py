"""data.fetch: the papers' sets downloaded once, checked by sha256, cached; offline errors."""
import hashlib
import re

import numpy as np
import pytest
import torch
from skimage import io

from mbdl_teach import data, datasets


@pytest.fixture
def mirror(tmp_path):
    """A tiny fake set served from a local folder through a file:// URL."""
    src = tmp_path / "mirror" / "sets" / "tiny"
    src.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = {}
    for i in range(3):
        name = f"{i:02d}.png"
        io.imsave(src / name, rng.integers(0, 256, (8, 6 + i), dtype=np.uint8),
                  check_contrast=False)
        files[name] = hashlib.sha256((src / name).read_bytes()).hexdigest()
    pins = {"source": {"url": (tmp_path / "mirror").as_uri() + "/"},
            "sets": {"tiny": {"path": "sets/tiny/", "files": files, "description": "test"}}}
    return pins, src, tmp_path / "cache"


def test_fetch_downloads_checks_and_caches(mirror):
    pins, src, cache = mirror
    folder = data.fetch("tiny", cache, pins=pins, progress=False)
    assert folder == cache / "tiny" and sorted(p.name for p in folder.iterdir()) == [
        "00.png", "01.png", "02.png"]
    # cached: a second call needs no source at all
    assert data.fetch("tiny", cache, pins=pins, progress=False,
                      base_url="file:///nowhere/") == folder
    imgs = data.load_dataset("tiny", cache, pins=pins, progress=False)
    assert [tuple(x.shape) for x in imgs] == [(1, 8, 6), (1, 8, 7), (1, 8, 8)]
    assert all(x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1 for x in imgs)
    assert torch.equal(imgs[0][0] * 255, torch.from_numpy(io.imread(src / "00.png")).float())


def test_a_corrupted_file_is_fetched_again(mirror):
    pins, _, cache = mirror
    folder = data.fetch("tiny", cache, pins=pins, progress=False)
    (folder / "01.png").write_bytes(b"not a png")
    data.fetch("tiny", cache, pins=pins, progress=False)
    assert hashlib.sha256((folder / "01.png").read_bytes()).hexdigest() == \
        pins["sets"]["tiny"]["files"]["01.png"]


def test_offline_error_names_the_url_and_the_folder(mirror):
    pins, _, cache = mirror
    with pytest.raises(ConnectionError) as err:
        data.fetch("tiny", cache, pins=pins, progress=False, base_url="file:///nowhere/")
    msg = str(err.value)
    assert "file:///nowhere/sets/tiny/00.png" in msg and str(cache / "tiny") in msg
    assert "by hand" in msg


def test_a_file_that_changed_at_the_source_is_refused(mirror):
    pins, src, cache = mirror
    (src / "02.png").write_bytes((src / "02.png").read_bytes() + b"\0")
    with pytest.raises(ValueError, match="sha256 differs"):
        data.fetch("tiny", cache, pins=pins, progress=False)
    assert not (cache / "tiny" / "02.png").exists()  # nothing unchecked is kept


def test_unknown_set_and_the_shipped_pins():
    with pytest.raises(ValueError, match="known: bsd400, bsd68, set12"):
        data.fetch("bsd500")
    pins = datasets._pins()
    assert {k: len(v["files"]) for k, v in pins["sets"].items()} == {
        "bsd400": 400, "set12": 12, "bsd68": 68}
    assert all(re.fullmatch("[0-9a-f]{64}", h) for s in pins["sets"].values()
               for h in s["files"].values())
    # pinned to one commit of the authors' repository, not to a branch that can move
    assert re.search(r"/cszn/DnCNN/[0-9a-f]{40}/$", pins["source"]["url"])


def test_smoke_scale_gets_a_labelled_stand_in_and_downloads_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("MBDL_SMOKE", "1")
    imgs = data.load_dataset("set12", tmp_path, base_url="file:///nowhere/")
    assert imgs.stand_in and imgs.label == "Set12 stand-in" and not any(tmp_path.iterdir())
    assert all(x.shape[0] == 1 and x.dtype == torch.float32 for x in imgs)
    train = data.load_dataset("bsd400", tmp_path)
    assert not set(datasets.STAND_INS["bsd400"][0]) & set(data.TEST_IMAGES)  # train != test
    assert train.label == "BSD400 stand-in"
    monkeypatch.setenv("MBDL_SMOKE", "0")  # not at smoke scale: the set itself, or the error
    with pytest.raises(ConnectionError, match="by hand"):
        data.load_dataset("set12", tmp_path, base_url="file:///nowhere/", progress=False)
    with pytest.raises(ValueError, match="no stand-in for 'tiny'"):
        datasets.stand_in("tiny")


def test_a_fetched_set_is_labelled_as_itself(mirror):
    pins, _, cache = mirror
    imgs = data.load_dataset("tiny", cache, pins=pins, progress=False, stand_in_ok=False)
    assert not imgs.stand_in and imgs.label == "tiny" and len(imgs) == 3
