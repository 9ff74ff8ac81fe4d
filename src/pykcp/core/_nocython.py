"""What ``import cython`` gives a module when Cython is not installed: pure Python, certainly
not compiled (``if not cython.compiled:`` guards the imports a compiled module takes from its
.pxd instead)."""

compiled = False
