"""The one gate every checkpoint passes (sospine.detectors.checkpoints): crafted pickles of every kind are
refused before anything of them runs, whichever way they come in, and real weights pass."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from sospine.config import ConfigError, check, coerce, deep_merge
from sospine.detectors.checkpoints import problem, read

from .test_config import FILE_CONFIG, SCHEMA

# Each payload is what a hostile .pt's pickle asks for when it is loaded.
CRAFT = """
import os, sys, torch
kind, out, victim = sys.argv[1:4]
class System:
    def __reduce__(self):
        return (os.system, ("echo ran > " + victim,))
class Settings:  # ultralytics' SettingsManager writes its JSON to the path it is built with
    def __reduce__(self):
        from ultralytics.utils import SettingsManager
        return (SettingsManager, (victim,))
class JsonDict:
    def __reduce__(self):
        from ultralytics.utils import JSONDict
        return (JSONDict, (victim,))
class PathOf:
    def __reduce__(self):
        import pathlib
        return (pathlib.Path, (victim,))
class TorchVision:  # a real ultralytics layer whose constructor downloads torchvision weights
    def __reduce__(self):
        from ultralytics.nn.modules.block import TorchVision
        return (TorchVision, ("resnet18",))
class LayerCalled:  # an admitted layer class, but called with arguments (a constructor, not NEWOBJ)
    def __reduce__(self):
        from ultralytics.nn.modules.conv import Conv
        return (Conv, (3, 16))
class Dunder:  # getattr as checkpoints use it, asked for a dunder of a layer
    def __reduce__(self):
        from ultralytics.nn.modules.conv import Conv
        return (getattr, (Conv, "__init__"))
payloads = {"system": System, "settings": Settings, "jsondict": JsonDict, "path": PathOf,
            "torchvision": TorchVision, "layer_called": LayerCalled, "dunder": Dunder}
torch.save({"model": payloads[kind](), "epoch": 1}, out)
"""
KINDS = ("system", "settings", "jsondict", "path", "torchvision", "layer_called", "dunder")


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """kind -> (crafted .pt, victim file): the victim holds 'untouched' and must keep it."""
    folder = tmp_path_factory.mktemp("crafted")
    made = {}
    for kind in KINDS:
        victim = folder / f"{kind}-victim.csv"
        victim.write_text("untouched\n")
        path = folder / f"{kind}.pt"
        subprocess.run([sys.executable, "-c", CRAFT, kind, str(path), str(victim)], check=True, capture_output=True)
        made[kind] = (path, victim)
    return made


@pytest.mark.parametrize("kind", KINDS)
def test_a_crafted_checkpoint_is_refused_and_nothing_of_it_runs(crafted, kind):
    path, victim = crafted[kind]
    found = problem(path)
    assert found and "could run code" in found, found
    assert victim.read_text() == "untouched\n"


def test_the_refusals_name_what_the_pickle_asks_for(crafted):
    assert problem(crafted["system"][0]) == "a pickle that asks for posix.system, not a model class: it could run code"
    assert "ultralytics.utils.SettingsManager" in problem(crafted["settings"][0])
    assert "pathlib.Path" in problem(crafted["path"][0])
    assert "constructs ultralytics.nn.modules.conv.Conv on load" in problem(crafted["layer_called"][0])


@pytest.mark.parametrize("kind", ["system", "settings"])
def test_a_pinned_sha256_does_not_make_a_crafted_file_loadable(crafted, kind):
    """The checksum says the file is the one the user meant, not that it is harmless."""
    from sospine.detectors.train import TrainingError, verify_weights

    path, victim = crafted[kind]
    with pytest.raises(TrainingError, match="could run code"):
        verify_weights(str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    assert victim.read_text() == "untouched\n"


def test_real_weights_of_both_families_pass_and_read_as_data(tmp_path, tiny_pt, tiny_rtdetr_pt):
    for name, data in (("yolo.pt", tiny_pt), ("rtdetr.pt", tiny_rtdetr_pt)):
        path = tmp_path / name
        path.write_bytes(data)
        assert problem(path) is None
        assert {"model", "date", "version"} <= set(read(path))


def configured(extra, where="train"):
    override = {"train": {"extra": extra}} if where == "train" else {"detectors": {"yp": {"extra": extra}}}
    return coerce(deep_merge(FILE_CONFIG, override), SCHEMA)


@pytest.mark.parametrize("where", ["train", "detector"])
@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"pretrained": "evil.pt"}, "pretrained"),
        ({"cfg": "override.yaml"}, "cfg"),
        ({"distill_model": "teacher.pt"}, "distill_model"),
        ({"weights_of_mine": "somewhere/evil.pth"}, "weights_of_mine"),
    ],
)
def test_extra_cannot_name_a_file_for_ultralytics_to_load(extra, key, where):
    prefix = "train.extra" if where == "train" else "detectors.yp.extra"
    with pytest.raises(ConfigError, match=rf"config key '{prefix}\.{key}'"):
        check(configured(extra, where), SCHEMA)


def test_extra_keeps_plain_arguments_and_pretrained_true_or_false():
    check(configured({"patience": 20, "pretrained": False, "mosaic": 0.5}), SCHEMA)
    check(configured({"pretrained": True}, "detector"), SCHEMA)


def test_a_cfg_file_naming_a_crafted_checkpoint_never_reaches_ultralytics(crafted, tmp_path):
    """train() called directly (not through the configuration check) holds extra to the same gate."""
    from sospine.detectors.train import TrainingError, train

    path, victim = crafted["system"]
    override = tmp_path / "override.yaml"
    override.write_text(f"pretrained: {path}\n")
    for extra in ({"cfg": str(override)}, {"pretrained": str(path)}):
        with pytest.raises(TrainingError, match="extra"):
            train(
                tmp_path / "dataset.yaml",
                tmp_path / "work",
                model="yolo11n.yaml",
                epochs=1,
                imgsz=32,
                batch=1,
                device="cpu",
                seed=0,
                workers=0,
                extra=extra,
            )
    assert victim.read_text() == "untouched\n"
    assert not Path(tmp_path / "work").exists()
