"""Faithful local stand-ins for every provider's run-history API, for tests, the demo and
benchmarks. They follow the providers' documented behaviour, not this connector's habits.

Each provider of the registry has its simulator in `<provider name>.py`, whose `SIMULATOR` is
the class; `simulator_class(name)` finds it."""

from __future__ import annotations

import importlib

from agent_runs.providers import PROVIDERS
from agent_runs.simulators.browserbase import BrowserbaseSimulator
from agent_runs.simulators.core import Fault, SimulatedClock, SimulatorBase
from agent_runs.simulators.tinyfish import TinyFishSimulator


def simulator_class(provider: str) -> type[SimulatorBase]:
    """The simulator of a provider of the registry."""
    simulator: type[SimulatorBase] = importlib.import_module(f"{__name__}.{PROVIDERS[provider].name}").SIMULATOR
    return simulator


__all__ = ["BrowserbaseSimulator", "Fault", "SimulatedClock", "SimulatorBase", "TinyFishSimulator", "simulator_class"]
