"""A local Bitrix24 cloud emulator: OAuth server, portals, REST, frames and pages."""

from .core import AppRegistration, DevPortal
from .errors import RestError
from .limits import Limits
from .portal import FramePost, Portal
from .seed import SEED_COUNTS, SEED_GROUPS, SEED_IGNORED, SEED_SHARED, SeedGroup, SeedShared
from .users import User

__all__ = [
    "AppRegistration",
    "DevPortal",
    "FramePost",
    "Limits",
    "Portal",
    "RestError",
    "SEED_COUNTS",
    "SEED_GROUPS",
    "SEED_IGNORED",
    "SEED_SHARED",
    "SeedGroup",
    "SeedShared",
    "User",
]
