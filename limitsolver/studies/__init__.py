"""Convergence and refinement studies (``THEORY.md`` §7)."""

from .fit import PowerLawFit, fit_power_law, observed_orders, richardson_order

__all__ = ["PowerLawFit", "fit_power_law", "observed_orders", "richardson_order"]
