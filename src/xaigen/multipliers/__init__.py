"""8-bit approximate multipliers: product tables, physical figures and error metrics."""

from xaigen.multipliers.catalogue import (
    Catalogue,
    ImportResult,
    builtin_names,
    import_multipliers,
    save_multiplier,
    user_catalogue_dir,
    xaigen_home,
)
from xaigen.multipliers.families import builtin_multipliers, drum, exact, mitchell, truncated
from xaigen.multipliers.importers import load_multipliers, validate_table
from xaigen.multipliers.metrics import ErrorMetrics, error_metrics, implausibility, joint_distribution
from xaigen.multipliers.multiplier import Derivation, Multiplier, exact_table, operand_values, validate_name
from xaigen.multipliers.weight_tuning import tuned_view, tuned_weight_map
from xaigen.multipliers.sign_magnitude import SIGN_MAGNITUDE, sign_magnitude, sign_magnitude_name, sign_magnitude_table

__all__ = [
    "SIGN_MAGNITUDE", "Catalogue", "Derivation", "ErrorMetrics", "ImportResult", "Multiplier", "builtin_multipliers", "builtin_names", "drum",
    "error_metrics", "exact", "exact_table", "implausibility", "import_multipliers", "joint_distribution",
    "load_multipliers", "mitchell", "operand_values", "save_multiplier", "sign_magnitude",
    "sign_magnitude_name", "sign_magnitude_table", "truncated", "tuned_view", "tuned_weight_map", "user_catalogue_dir",
    "validate_name", "validate_table", "xaigen_home",
]
