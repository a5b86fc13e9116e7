"""The one gate every checkpoint passes before a loader sees it.

A `.pt` file is a Python pickle: loading one can run any code its author put in it, and even the
classes a model is made of can do things when they are constructed (ultralytics' `TorchVision`
block downloads weights, its distillation model loads another checkpoint). So a checkpoint is
read here first, without any real class: torch's restricted unpickler, with every class the
pickle names replaced by an inert stand-in. A model checkpoint only allocates its objects and
fills in their state (pickle's NEWOBJ and BUILD); one that calls a class (REDUCE, a constructor
with arguments), names anything but a model layer or one of the few data types a checkpoint holds,
or calls a function torch does not itself allow, is refused before anything of it runs.

Only then does ultralytics load it, with its own restricted loading switched on for the whole
process (`ULTRALYTICS_SAFE_LOAD`, set by `sospine.detectors.train.offline_ultralytics`). The sha256 of the
file the user named (`sospine.detectors.weights`) says it is the file they meant; this gate says it holds
nothing but a model.
"""

from __future__ import annotations

import importlib
import pickle
import re
from pathlib import Path, PurePosixPath
from typing import Any

#: Packages whose nn.Module subclasses a checkpoint may hold (each class defined in the module named).
LAYER_PACKAGES = ("torch.nn.modules", "ultralytics.nn.modules")
#: Modules whose own nn.Module subclasses are whole models.
MODEL_MODULES = ("ultralytics.nn.tasks",)
#: Modules refused even though they define layers: their classes load files or download when built.
UNSAFE_MODULES = ("ultralytics.nn.distill_model", "ultralytics.nn.text_model", "ultralytics.nn.autobackend")
#: Layers whose construction reaches outside the process (torchvision's weights download).
UNSAFE_CLASSES = ("ultralytics.nn.modules.block.TorchVision",)
#: Data types a checkpoint holds besides layers (train_args as a namespace in older files, numpy scalars);
#: they may be built without arguments, as their pickles do.
DATA_TYPES = (
    "ultralytics.utils.IterableSimpleNamespace",
    "ultralytics.yolo.utils.IterableSimpleNamespace",
    "types.SimpleNamespace",
    "numpy.dtype",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
)
#: Paths in older checkpoints' arguments, read as pure paths (no file system behind them).
PATH_TYPES = ("pathlib.PosixPath", "pathlib.WindowsPath", "pathlib._local.PosixPath", "pathlib._local.WindowsPath")
#: `getattr` as ultralytics' checkpoints use it: a layer's own method (`Detect.forward`), never a dunder.
GETATTR = "builtins.getattr"


class CheckpointError(RuntimeError):
    """A checkpoint refused by the gate; the message says why in plain words."""


class _Inert:
    """A stand-in for a layer or data type while a checkpoint is read: it may be allocated and given
    state, but calling it with arguments (a constructor the pickle asks to run) is refused."""

    _name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise pickle.UnpicklingError(f"constructs {self._name} with arguments on load")

    def __setstate__(self, state: Any) -> None:  # the state is data; nothing of it runs
        self._state = state


def _stand_in(name: str) -> type:
    return type(name.rpartition(".")[2], (_Inert,), {"_name": name, "__module__": name.rpartition(".")[0]})


def _stand_in_for(name: str) -> Any:
    if name == GETATTR:
        return _inert_getattr
    if name in PATH_TYPES:
        return PurePosixPath
    return _stand_in(name)


def _inert_getattr(obj: Any, attribute: str) -> Any:
    if not (isinstance(obj, type) and issubclass(obj, _Inert)) or attribute.startswith("_"):
        raise pickle.UnpicklingError(f"asks for attribute {attribute!r} of {obj!r}")
    return _stand_in(f"{obj._name}.{attribute}")


def admitted(name: str) -> bool:
    """Whether a checkpoint may name this global: a layer or model class of torch or ultralytics
    (defined where it is named), or one of the data types checkpoints hold.

    >>> admitted("torch.nn.modules.conv.Conv2d"), admitted("torch.nn.modules.conv.Conv2d.forward")
    (True, False)
    >>> admitted("ultralytics.utils.SettingsManager"), admitted("pathlib.Path"), admitted("posix.system")
    (False, False, False)
    """
    if name in DATA_TYPES or name in PATH_TYPES or name == GETATTR:
        return True
    module, _, attribute = name.rpartition(".")
    if name in UNSAFE_CLASSES or module.startswith(UNSAFE_MODULES):
        return False
    in_layers = any(module == p or module.startswith(p + ".") for p in LAYER_PACKAGES)
    if not (in_layers or module in MODEL_MODULES):
        return False
    import torch.nn

    try:
        found = getattr(importlib.import_module(module), attribute, None)
    except ImportError:
        return False
    return isinstance(found, type) and issubclass(found, torch.nn.Module) and found.__module__ == module


def read(path: str | Path) -> dict:
    """The checkpoint's contents with every class an inert stand-in (tensors, numbers and strings as
    they are), or CheckpointError saying why it may not be loaded."""
    from sospine.detectors.weights import torch_archive_problem

    problem = torch_archive_problem(path)
    if problem:
        raise CheckpointError(problem)
    import torch

    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as error:  # noqa: BLE001 - a broken archive, in torch's words
        raise CheckpointError(f"does not load ({_one_line(error)[:300]})") from None
    refused = sorted(name for name in names if not admitted(name))
    if refused:
        raise CheckpointError(f"a pickle that asks for {refused[0]}, not a model class: it could run code")
    stand_ins = [(_stand_in_for(name), name) for name in names if name != "numpy.dtype"]
    # only the stand-ins, none of the real classes ultralytics may have allowed in this process before
    allowed_before = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        torch.serialization.add_safe_globals(stand_ins)
        contents = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - the unpickler's refusal or a broken archive
        text = _one_line(error)
        wanted = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", text)
        if wanted:
            raise CheckpointError(
                f"a pickle that asks for {wanted.group(1)}, not a model class: it could run code"
            ) from None
        constructs = re.search(r"constructs ([\w.]+) with arguments", text)
        if constructs:
            raise CheckpointError(
                f"a pickle that constructs {constructs.group(1)} on load, which a model checkpoint never does: "
                "it could run code"
            ) from None
        if "weights only load failed" in text.lower() or "unpickl" in text.lower():
            raise CheckpointError(
                f"a pickle that asks for more than model classes, which could run code ({text[:200]})"
            ) from None
        raise CheckpointError(f"does not load ({text[:300]})") from None
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(allowed_before)
    if not isinstance(contents, dict):
        raise CheckpointError(f"a {type(contents).__name__}, not a checkpoint (a mapping with the model)")
    return contents


def problem(path: str | Path) -> str | None:
    """Why a checkpoint may not be loaded, or None (see `read`)."""
    try:
        read(path)
    except CheckpointError as error:
        return str(error)
    return None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
