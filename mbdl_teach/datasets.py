"""The papers' image sets, fetched once from their published source and checked.

The full profile trains and tests on the sets the papers report on: BSD400 for training,
Set12 and BSD68 for testing (DnCNN's Tables 1 and 2, WINNet's). :func:`fetch` downloads a
set the first time (a progress bar per file), checks every file against the sha256 pinned
in ``mbdl_teach/datasets.json`` and keeps it in a cache folder (``$MBDL_DATA``, else
``~/.cache/mbdl_teach``); the next call reads the cache and only checks it.
:func:`load_dataset` returns the images as tensors.

With no network, :func:`fetch` says which URL failed and where to put the files by hand (the
same names, in the folder it prints); files put there are checked like downloaded ones. The
quick profile never needs this: it runs on the images that PyWavelets and scikit-image ship.

At smoke scale (``$MBDL_SMOKE=1``, see :mod:`mbdl_teach.config`) :func:`load_dataset`
downloads nothing: it returns a *stand-in*, a few small crops of the bundled images,
labelled ``"<set> stand-in"`` (:attr:`ImageSet.label`), so a smoke run never passes for
the paper's set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

__all__ = ["DATASETS", "ImageSet", "fetch", "load_dataset", "stand_in", "data_home"]

_PINS = Path(__file__).with_name("datasets.json")


@lru_cache(maxsize=1)
def _pins() -> dict:
    return json.loads(_PINS.read_text())


#: Set name -> what it is (description) and how many files it has.
DATASETS: dict[str, str] = {name: f"{s['description']} ({len(s['files'])} files)"
                            for name, s in _pins()["sets"].items()}


def data_home(directory: str | Path | None = None) -> Path:
    """The cache folder: ``directory``, else ``$MBDL_DATA``, else ``~/.cache/mbdl_teach``."""
    if directory is not None:
        return Path(directory)
    return Path(os.environ.get("MBDL_DATA") or Path.home() / ".cache" / "mbdl_teach")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(url: str, target: Path) -> None:
    tmp = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
        shutil.copyfileobj(response, out)
    os.replace(tmp, target)


def fetch(name: str, directory: str | Path | None = None, base_url: str | None = None,
          progress: bool = True, pins: dict | None = None) -> Path:
    """The folder of set ``name``, downloaded if need be, every file checked.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`: ``"bsd400"``, ``"set12"``, ``"bsd68"``.
    directory : path, optional
        The cache folder (default :func:`data_home`); the set goes to ``directory/name``.
    base_url : str, optional
        Where the files are (``base_url + path + file``); default the pinned source (a
        ``file://`` URL serves a local mirror).
    progress : bool
        A progress bar over the files being downloaded.
    pins : dict, optional
        ``{"source": {"url": ...}, "sets": {name: {"path", "files": {file: sha256}}}}``
        instead of the package's (tests use a small fake set).

    Returns
    -------
    Path
        The folder holding the set's files.

    Raises
    ------
    ValueError
        An unknown set, or a file whose sha256 differs from the pinned one (after one
        fresh download, or put there by hand).
    ConnectionError
        A file could not be downloaded: the message names the URL and the folder where
        the files can be put by hand.
    """
    pins = pins or _pins()
    if name not in pins["sets"]:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(pins['sets']))}")
    spec = pins["sets"][name]
    url = (base_url or pins["source"]["url"]) + spec["path"]
    folder = data_home(directory) / name
    folder.mkdir(parents=True, exist_ok=True)
    missing = [f for f, h in spec["files"].items()
               if not (folder / f).is_file() or _sha256(folder / f) != h]
    bar = None
    if missing and progress:
        from .progress import progress_bar

        bar = progress_bar(total=len(missing), desc=f"fetching {name}")
    for f in missing:
        try:
            _download(url + f, folder / f)
        except (urllib.error.URLError, OSError) as err:
            if bar is not None:
                bar.close()
            raise ConnectionError(
                f"could not download {url + f} ({err}). With no network, download the "
                f"{len(spec['files'])} files of {name!r} from {url} by hand and put them, "
                f"with the same names, in {folder}: they are checked by sha256 "
                "on the next call") from None
        if _sha256(folder / f) != spec["files"][f]:
            (folder / f).unlink()
            raise ValueError(f"{url + f}: the downloaded file's sha256 differs from the one "
                             "pinned in mbdl_teach/datasets.json (a changed or corrupted file)")
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return folder


class ImageSet(list):
    """A list of grey (1, H, W) images that knows which set it is.

    Attributes
    ----------
    name : str
        The set's key (``"set12"``).
    stand_in : bool
        True for a smoke-scale stand-in (bundled images), not the set itself.
    """

    def __init__(self, images, name: str, stand_in: bool = False):
        super().__init__(images)
        self.name, self.stand_in = name, bool(stand_in)

    @property
    def label(self) -> str:
        """The name to print: ``"Set12"``, or ``"Set12 stand-in"`` for a stand-in."""
        title = {"bsd400": "BSD400", "bsd68": "BSD68", "set12": "Set12"}.get(
            self.name, self.name)
        return title + (" stand-in" if self.stand_in else "")


#: What each set's stand-in is made of: (bundled images, crop size).
STAND_INS: dict[str, tuple[tuple[str, ...], int]] = {
    "bsd400": (("aero", "clock", "page", "brick", "gravel", "grass"), 64),
    "set12": (("camera", "ascent"), 64),
    "bsd68": (("moon", "coins"), 64),
}


def stand_in(name: str) -> ImageSet:
    """A smoke-scale stand-in for set ``name``: small crops of bundled images.

    Used by :func:`load_dataset` at smoke scale, where nothing may be downloaded; its
    numbers say that the code runs, not what the paper's set gives.

    Raises
    ------
    ValueError
        A set with no stand-in (the message lists those that have one).
    """
    from .data import load_image

    if name not in STAND_INS:
        raise ValueError(f"no stand-in for {name!r}; known: {', '.join(sorted(STAND_INS))}")
    names, size = STAND_INS[name]
    return ImageSet([load_image(n, size=size) for n in names], name, stand_in=True)


def load_dataset(name: str, directory: str | Path | None = None,
                 stand_in_ok: bool | None = None, **fetch_kwargs) -> ImageSet:
    """The images of set ``name`` (fetched if need be), each a grey (1, H, W) float32 tensor
    in [0, 1], in file order.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    directory : path, optional
        The cache folder (see :func:`fetch`).
    stand_in_ok : bool, optional
        Return :func:`stand_in` instead of fetching; default: at smoke scale
        (``$MBDL_SMOKE=1``) only.
    **fetch_kwargs
        Passed to :func:`fetch` (``base_url``, ``progress``, ``pins``).

    Returns
    -------
    ImageSet
        A list of (1, H, W) tensors with ``name``, ``stand_in`` and ``label``.
    """
    from skimage import io

    if stand_in_ok is None:
        stand_in_ok = os.environ.get("MBDL_SMOKE", "").strip().lower() in ("1", "true", "yes")
    if stand_in_ok and name in STAND_INS:
        return stand_in(name)
    folder = fetch(name, directory, **fetch_kwargs)
    pins = fetch_kwargs.get("pins") or _pins()
    out = []
    for f in pins["sets"][name]["files"]:
        img = io.imread(folder / f)
        if img.ndim == 3:  # a colour file: the sets are grey, keep the luma
            img = img[..., :3] @ np.array([0.2125, 0.7154, 0.0721])
        out.append(torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None])
    return ImageSet(out, name)
