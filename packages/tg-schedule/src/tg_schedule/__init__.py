"""tg-schedule: tensor graph -> kernels (fusion), schedule items, and running them.

>>> from tg_schedule import create_schedule, run_schedule, ScheduleItem
"""

from tg_schedule.item import ScheduleItem
from tg_schedule.jit import CapturedRun, capture
from tg_schedule.kernelize import find_realizes
from tg_schedule.run import get_kernel, realize, run_item, run_schedule
from tg_schedule.schedule import create_schedule

__version__ = "0.1.0"

__all__ = [
    "CapturedRun",
    "capture",
    "ScheduleItem",
    "create_schedule",
    "find_realizes",
    "get_kernel",
    "realize",
    "run_item",
    "run_schedule",
]
