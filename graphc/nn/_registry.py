"""The dicts a Module keeps its parameters, buffers and submodules in, and a version that moves
whenever any of them, or any module attribute, changes anywhere.

``graphc.compile`` binds the tensors a trace reached through modules. Replacing one (``m.fc =
nn.Linear(...)``, ``m.weight = nn.Parameter(...)``, ``seq[2] = ...``, ``del m.bias``) leaves the
old tensor's storage as it was, so the storage guard alone would keep running the old weights.
Every such change goes through one of these dicts, which bumps :data:`VERSION`, as does
``Module.__setattr__`` (a plain attribute a forward reads, ``self.temperature``, is a constant
in the compiled code); a compiled version's guard reads that one number per call and looks
closer only when it moved.
"""

from __future__ import annotations

from collections import OrderedDict

VERSION = [0]  # a cell: read as VERSION[0]


def _bumped(method):
    def changed(self, *args, **kwargs):
        VERSION[0] += 1
        return method(self, *args, **kwargs)

    changed.__name__ = method.__name__
    return changed


class Registry(OrderedDict):
    """An ``OrderedDict`` whose every change bumps :data:`VERSION`."""

    __slots__ = ()


for _name in ("__setitem__", "__delitem__", "pop", "popitem", "clear", "update", "setdefault", "move_to_end",
              "__ior__"):
    setattr(Registry, _name, _bumped(getattr(OrderedDict, _name)))
