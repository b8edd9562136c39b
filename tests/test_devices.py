"""Device-correct code, checked without a GPU.

* Statically: every notebook loads shipped models onto ``cfg.device`` and trains its XRF
  networks there (a model left on the CPU while the data are on the GPU fails in the full
  profile, which no CPU run executes).
* At run time, on PyTorch's ``meta`` device (tensors with a device and a shape but no data):
  a network moved there and fed meta tensors fails if anything inside it makes a tensor on
  the CPU. Networks whose forward reads values (``.item()``, a data-dependent branch)
  cannot run on ``meta`` and are left to the static check and the GPU report.
"""
import ast
import json
import re
from pathlib import Path

import pytest
import torch

from mbdl_teach import denoisers, solvers, xrf

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CLASSICAL = ("wavelet", "bm3d")  # no parameters: nothing to put on a device


def _code(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


#: Calls that make a model and take its device: (module, function) -> the positional
#: index of ``device`` (None: keyword only).
MAKERS = {("weights", "load"): 1, ("denoisers", "load"): 1, ("xrf", "train_unmixing"): None}


def _loads_without_device(code: str) -> list[str]:
    """The calls of :data:`MAKERS` (``weights.load(...)``, ``denoisers.load(...)``,
    ``xrf.train_unmixing(...)``) that give no device."""
    code = re.sub(r"\\\n\s*", " ", code)  # IPython joins a magic continued with "\\"
    lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    bad = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and (node.func.value.id, node.func.attr) in MAKERS):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and first.value in CLASSICAL:
                continue
            index = MAKERS[node.func.value.id, node.func.attr]
            positional = index is not None and len(node.args) > index
            if not positional and not any(k.arg == "device" for k in node.keywords):
                bad.append(ast.unparse(node))
    return bad


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_load_shipped_models_onto_the_configured_device(path):
    code = _code(path)
    bad = _loads_without_device(code)
    assert not bad, f"{path.name}: {bad} (pass device=cfg.device)"
    if re.search(r"(weights|denoisers)\.load\(|\bfit\(", code):
        assert "cfg.device" in code, f"{path.name} makes models but never uses cfg.device"


def test_the_static_check_sees_a_load_without_device():
    assert _loads_without_device('net = weights.load("dncnn")[0]') == ["weights.load('dncnn')"]
    assert not _loads_without_device('weights.load("dncnn", device=cfg.device)')
    assert not _loads_without_device('denoisers.load("wavelet")')
    assert _loads_without_device("net, h = xrf.train_unmixing(lines, det, n_steps=5)") == [
        "xrf.train_unmixing(lines, det, n_steps=5)"]
    assert not _loads_without_device("xrf.train_unmixing(lines, det, device=cfg.device)")


META = torch.device("meta")


@pytest.mark.parametrize("make, inputs", [
    (lambda: denoisers.DnCNN(), lambda: (torch.empty(2, 1, 32, 32, device=META), 0.1)),
    (lambda: solvers.LISTA(torch.randn(10, 20), 3), lambda: (torch.empty(2, 10, device=META),)),
    (lambda: solvers.LISTA_CP(torch.randn(10, 20), 3, support_selection=(0.1, 0.3)),
     lambda: (torch.empty(2, 10, device=META),)),
    (lambda: solvers.ALISTA(torch.randn(10, 20), 3), lambda: (torch.empty(2, 10, device=META),)),
    (lambda: xrf.UnfoldedUnmixing(xrf.Lines(["Pb", "Fe"]), xrf.Detector(n_channels=256, gain=0.08), 2),
     lambda: (torch.empty(3, 256, device=META),)),
], ids=["DnCNN", "LISTA", "LISTA-CPSS", "ALISTA", "UnfoldedUnmixing"])
def test_networks_make_no_tensor_off_their_device(make, inputs):
    net = make().to(META)
    out = net(*inputs())
    assert out.device == META
