"""A labelled synthetic clickstream of a second-hand marketplace, day by day (see ``catalog`` for the behaviours)."""

from clickguard.sim.catalog import ABNORMAL_TYPES, BENIGN_TYPES, UserType
from clickguard.sim.generator import SimDay, simulate, simulate_day
from clickguard.sim.population import Population, SimConfig

__all__ = [
    "ABNORMAL_TYPES",
    "BENIGN_TYPES",
    "Population",
    "SimConfig",
    "SimDay",
    "UserType",
    "simulate",
    "simulate_day",
]
