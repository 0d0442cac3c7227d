"""The op set: core ops and the composites that decompose into them. Importing this package
registers every op (see graphc.ir.registry)."""

from . import composite, core, elementwise, index, movement, nn, random, reduce  # noqa: F401  (registration side effects)
