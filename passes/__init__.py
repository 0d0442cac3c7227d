"""graphc.passes: graph-to-graph passes (each its own module) and the pass manager.

Imports graphc.ir only.
"""
