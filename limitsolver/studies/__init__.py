"""Convergence and refinement studies (:ref:`theory §7 <theory-convergence>`).

:mod:`~limitsolver.studies.fit`
    Power-law fits with bootstrap intervals, observed orders, Richardson.
:mod:`~limitsolver.studies.convergence`
    Finite networks at several widths and seeds against one limit solution.
:mod:`~limitsolver.studies.refinement`
    The limit solver's own discretisation: nodes, depth, histories, time stepping.
"""

from .convergence import (
    METRICS,
    TABLE_COLUMNS,
    Column,
    ConvergenceResult,
    ConvergenceStudy,
    Metric,
    RunData,
    depth_error,
    evaluate_pairs,
    run_convergence,
)
from .fit import PowerLawFit, fit_power_law, observed_orders, richardson_order
from .refinement import (
    RefinementResult,
    refine_depth,
    refine_histories,
    refine_nodes,
    refine_time_stepping,
)

__all__ = [
    "PowerLawFit", "fit_power_law", "observed_orders", "richardson_order",
    "ConvergenceStudy", "ConvergenceResult", "run_convergence", "depth_error", "METRICS",
    "Metric", "RunData", "Column", "TABLE_COLUMNS", "evaluate_pairs",
    "RefinementResult", "refine_nodes", "refine_depth", "refine_histories",
    "refine_time_stepping",
]
