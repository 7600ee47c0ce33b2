"""Faithful local stand-ins for the TinyFish and Browserbase list-runs APIs, for tests, the demo
and benchmarks. They follow the providers' documented behaviour, not this connector's habits."""

from .browserbase import BrowserbaseSimulator
from .core import Fault, SimulatedClock
from .tinyfish import TinyFishSimulator

__all__ = ["BrowserbaseSimulator", "Fault", "SimulatedClock", "TinyFishSimulator"]
