"""The version of limitsolver, written once: read by setuptools and by the package."""

__version__ = "0.1.0"
