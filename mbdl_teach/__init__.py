"""mbdl_teach: the helper package of *Model-Based Deep Learning for Inverse Problems*.

Every method the book shows lives here, tested; the notebooks import what they teach.
Modules are named for their idea (``wavelets``, ``lifting``, ``operators`` ...), not for
the chapter that first uses them.
"""

__version__ = "0.1.0"
