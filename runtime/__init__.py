"""graphc.runtime: backends that execute graphs (reference, llvm, cuda) and the export writer.

Imports graphc.ir only, never graphc.passes.
"""
