"""The core op set. Importing this package registers every op (see graphc.ir.registry)."""

from . import core, elementwise, index, movement, nn, random, reduce  # noqa: F401  (registration side effects)
