"""8-bit approximate multipliers: product tables, physical figures and error metrics."""

from xaigen.multipliers.catalogue import Catalogue, save_multiplier, user_catalogue_dir, xaigen_home
from xaigen.multipliers.families import builtin_multipliers, drum, exact, mitchell, truncated
from xaigen.multipliers.importers import load_multipliers, validate_table
from xaigen.multipliers.metrics import ErrorMetrics, error_metrics, joint_distribution
from xaigen.multipliers.multiplier import Multiplier, exact_table, operand_values

__all__ = [
    "Catalogue", "ErrorMetrics", "Multiplier", "builtin_multipliers", "drum", "error_metrics",
    "exact", "exact_table", "joint_distribution", "load_multipliers", "mitchell", "operand_values",
    "save_multiplier", "truncated", "user_catalogue_dir", "validate_table", "xaigen_home",
]
