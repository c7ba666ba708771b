"""The keeper: event indexer, bulk health scanner, gas-sized liquidation batches, auto-deleveraging over
the PnL cap, settlement of ready orders, service lifecycle."""

from fulcrum.keeper.adl import AdlJob, AdlTick
from fulcrum.keeper.batch import GasModel, TxLimits, plan_batches, plan_order_batches
from fulcrum.keeper.config import KeeperConfig, load_keeper_config
from fulcrum.keeper.indexer import EventIndexer
from fulcrum.keeper.orders import OrderBook, Prices, ReadyOrder, ready_orders
from fulcrum.keeper.scan import Candidate, HealthScanner
from fulcrum.keeper.service import Keeper, TickReport
from fulcrum.keeper.settlement import OrderJob, OrderTick
from fulcrum.keeper.state import EngineView

__all__ = [
    "AdlJob", "AdlTick", "Candidate", "EngineView", "EventIndexer", "GasModel", "HealthScanner", "Keeper", "KeeperConfig", "OrderBook",
    "OrderJob", "OrderTick", "Prices", "ReadyOrder", "TickReport", "TxLimits", "load_keeper_config", "plan_batches",
    "plan_order_batches", "ready_orders",
]  # fmt: skip
