"""Sphinx configuration of the limitsolver documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
No extension reaches the network (intersphinx is off).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

project = "limitsolver"
author = "limitsolver developers"
copyright = "limitsolver developers"
release = "0.1.0"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]

root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []

# autodoc: document what each module lists in ``__all__``, in source order.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": False}

# numpydoc: no autosummary tables of class members (they would need stub pages),
# no cross-referencing of type names (which would need intersphinx).
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Kernel limits of RNNs trained online on ergodic data",
    "fixed_sidebar": True,
}
