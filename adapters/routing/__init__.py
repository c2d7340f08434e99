"""Live order routing through a broker port (`ledger serve --broker ibkr|sim`).

broker = open_broker("ibkr", app, port=4002)   # or "sim"
router = BrokerRouter(app, broker, name="ibkr")
await router.start()     # connects; the resync feeds what the ledger missed
...                      # every commit's accepted intents / cancels go out
await router.stop()
"""

from adapters.routing.factory import BROKERS, BrokerName, open_broker
from adapters.routing.resync import missed_fill_reports, missed_status_reports
from adapters.routing.router import BrokerRouter, RoutingConfigError
from adapters.routing.serve import RoutingComponent

__all__ = [
    "BROKERS",
    "BrokerName",
    "BrokerRouter",
    "RoutingComponent",
    "RoutingConfigError",
    "missed_fill_reports",
    "missed_status_reports",
    "open_broker",
]
