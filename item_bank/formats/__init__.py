"""Pure readers and writers of item, parameter and response files."""

from item_bank.formats.errors import ImportFailed, ImportProblem
from item_bank.formats.items_csv import (
    ITEM_COLUMNS,
    STIMULUS_COLUMNS,
    dumps_items_csv,
    dumps_stimuli_csv,
    loads_items_csv,
)
from item_bank.formats.items_json import dumps_items, loads_items
from item_bank.formats.qti import QTI_VERSIONS, ZipLimits, read_qti_package, write_qti_package

__all__: list[str] = [
    "ITEM_COLUMNS",
    "QTI_VERSIONS",
    "STIMULUS_COLUMNS",
    "ImportFailed",
    "ImportProblem",
    "ZipLimits",
    "dumps_items",
    "dumps_items_csv",
    "dumps_stimuli_csv",
    "loads_items",
    "loads_items_csv",
    "read_qti_package",
    "write_qti_package",
]
