"""What a traced step read by name: its globals, the variables it closes over, and plain
attributes of objects it reached that way (``cfg.scale``).

A trace bakes these in: a global ``scale = 2.0`` becomes a constant, a global ``model`` becomes
the parameters it binds. When the program later rebinds one (``model = Net()`` for the next run
of a sweep, ``scale = 3.0``), the compiled version would go on using the old value, so the
guards compare them on every call: by identity (one ``is`` per name while nothing changed), and
by value when the identity differs (a number rebound to an equal number is the same constant).

The names come from the bytecode (``LOAD_GLOBAL``, ``LOAD_DEREF`` and a ``LOAD_ATTR`` right
after either) of the compiled function, of the user-defined Python functions it reaches through
those names (a ``loss_fn`` defined in the script), and of the ``forward`` of every user-defined
module the trace called. Python modules (``np``, ``F``), classes and builtins are not guarded
(a plain value read from a module, ``config.SCALE``, is); nor is what is read through two
attribute levels (``cfg.optim.lr``) or through a subscript (``table[0]``), except that lists and
dicts of plain values are compared by contents.
"""

from __future__ import annotations

import dis
import functools
import types
from itertools import repeat
from operator import is_

_MISSING = object()
_PLAIN = (bool, int, float, complex, str, bytes, type(None))
_SKIP = (types.ModuleType, type, types.BuiltinFunctionType)
_MAX_CONTENTS = 64  # a list or dict of plain values up to this size is compared by contents


class Captured:
    """The names one trace read, and their values then; ``why()`` says which one changed."""

    def __init__(self, fn, module_classes=()):
        self.globals: list[tuple[dict, tuple, list, str]] = []  # (namespace, names, values, where)
        self.cells: list[tuple[tuple, list, tuple, str]] = []  # (cells, values, names, where)
        self.attrs: list[tuple[object, str, object, str]] = []  # (object, attribute, value, name)
        self.contents: list[tuple[object, object, str]] = []  # (list or dict, copy, name)
        seen: set = set()
        for code_owner in [fn, *(getattr(c, "forward", None) for c in module_classes)]:
            self._collect(code_owner, seen, depth=0)

    def __bool__(self) -> bool:
        return bool(self.globals or self.cells or self.attrs or self.contents)

    # ------------------------------------------------------------------ collecting
    def _collect(self, fn, seen: set, depth: int) -> None:
        fn = _function_of(fn)
        if fn is None or id(fn.__code__) in seen or depth > 3 or _is_graphc(fn):
            return
        seen.add(id(fn.__code__))
        where = fn.__qualname__.rsplit("<locals>.", 1)[-1]  # (Net.forward; f for a function defined inside another)
        global_names, deref_names, attrs = _names_read(fn.__code__)
        namespace = fn.__globals__
        names = tuple(n for n in global_names if n in namespace and _guarded(namespace[n]))
        if names:
            self.globals.append((namespace, names, [namespace[n] for n in names], where))
        cells, cell_names = [], []
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            if name in deref_names:
                try:
                    value = cell.cell_contents
                except ValueError:  # not assigned yet
                    continue
                if _guarded(value):
                    cells.append(cell)
                    cell_names.append(name)
        if cells:
            self.cells.append((tuple(cells), [c.cell_contents for c in cells], tuple(cell_names), where))
        values = {n: namespace[n] for n in names}
        values.update(zip(cell_names, (c.cell_contents for c in cells)))
        for base, attr in attrs:
            obj = values.get(base, namespace.get(base, _MISSING))  # (Python modules too: config.SCALE)
            if obj is _MISSING or isinstance(obj, (type, types.BuiltinFunctionType)) or _is_graphc_object(obj):
                continue
            value = getattr(obj, attr, _MISSING)
            if isinstance(value, _PLAIN):
                self.attrs.append((obj, attr, value, f"{base}.{attr}"))
        for name, value in values.items():
            if type(value) in (list, dict) and _plain_contents(value):
                self.contents.append((value, _copy(value), name))
            elif isinstance(value, (types.FunctionType, functools.partial)):
                self._collect(value, seen, depth + 1)

    # ------------------------------------------------------------------ checking
    def why(self) -> str | None:
        """None while every name still holds what the trace read, else which one changed."""
        for namespace, names, values, where in self.globals:
            now = list(map(namespace.get, names, repeat(_MISSING)))
            if not all(map(is_, now, values)):
                for i, (new, old) in enumerate(zip(now, values)):
                    if new is not old:
                        if not _equal_plain(new, old):
                            return f"the global {names[i]!r} read by {where} was rebound"
                        values[i] = new  # the same constant: compare by identity again from now on
        for cells, values, names, where in self.cells:
            try:
                now = [c.cell_contents for c in cells]
            except ValueError:
                return f"a variable {where} closes over was deleted"
            if not all(map(is_, now, values)):
                for i, (new, old) in enumerate(zip(now, values)):
                    if new is not old:
                        if not _equal_plain(new, old):
                            return f"the variable {names[i]!r} that {where} closes over was rebound"
                        values[i] = new
        for obj, attr, value, name in self.attrs:
            now = getattr(obj, attr, _MISSING)
            if now is not value and not _equal_plain(now, value):
                return f"{name} changed from {value!r} to {now!r}"
        for container, copy, name in self.contents:
            if container != copy:
                return f"the contents of {name} changed"
        return None


# ---------------------------------------------------------------------- helpers
def _function_of(obj):
    """The Python function whose bytecode runs when ``obj`` is called, or None."""
    if isinstance(obj, functools.partial):
        obj = obj.func
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    obj = getattr(obj, "__wrapped__", obj)
    return obj if isinstance(obj, types.FunctionType) else None


def _is_graphc(fn) -> bool:
    module = getattr(fn, "__module__", None) or ""
    return module == "graphc" or module.startswith("graphc.")


def _is_graphc_object(obj) -> bool:
    """graphc's modules, optimizers and tensors have guards of their own (and attributes that
    change every step); graphc's Python modules do not change."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__ == "graphc" or obj.__name__.startswith("graphc.")
    return _is_graphc(type(obj))


def _guarded(value) -> bool:
    return not isinstance(value, _SKIP)


def _equal_plain(new, old) -> bool:
    return type(new) is type(old) and isinstance(old, _PLAIN) and new == old


def _plain_contents(value) -> bool:
    items = value.items() if type(value) is dict else enumerate(value)
    return len(value) <= _MAX_CONTENTS and all(isinstance(v, _PLAIN) and isinstance(k, _PLAIN) for k, v in items)


def _copy(value):
    return dict(value) if type(value) is dict else list(value)


def _names_read(code) -> tuple[set, set, list]:
    """Global names, closure names, and (name, attribute) pairs a code object and the code
    nested in it (comprehensions, lambdas) read."""
    global_names, deref_names, attrs = set(), set(), []
    stack = [code]
    while stack:
        c = stack.pop()
        previous = None
        for ins in dis.get_instructions(c):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                global_names.add(ins.argval)
                previous = ins.argval
                continue
            if ins.opname in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
                deref_names.add(ins.argval)
                previous = ins.argval
                continue
            if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and previous is not None:
                attrs.append((previous, ins.argval))
            previous = None
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return global_names, deref_names, attrs
