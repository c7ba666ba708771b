"""The liquidation keeper: event indexer, bulk health scanner, gas-sized batches, service lifecycle."""

from fulcrum.keeper.batch import GasModel, TxLimits, plan_batches
from fulcrum.keeper.config import KeeperConfig, load_keeper_config
from fulcrum.keeper.indexer import EventIndexer
from fulcrum.keeper.scan import Candidate, HealthScanner
from fulcrum.keeper.service import Keeper, TickReport
from fulcrum.keeper.state import EngineView

__all__ = [
    "Candidate", "EngineView", "EventIndexer", "GasModel", "HealthScanner", "Keeper", "KeeperConfig",
    "TickReport", "TxLimits", "load_keeper_config", "plan_batches",
]  # fmt: skip
