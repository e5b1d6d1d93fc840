"""critmin: an open model of critical-mineral supply-chain security.

The library is the product; the CLI is a thin layer over it::

    import critmin
    store = critmin.Store("critmin.duckdb")
    store.build()                      # shipped, sourced base dataset
    chain = critmin.SupplyChain.from_store(store)
    critmin.metrics.concentration(chain, material="rare_earths")
"""

from __future__ import annotations

__version__ = "0.1.0"

from critmin import metrics
from critmin.chain import SupplyChain
from critmin.errors import UserError
from critmin.store import Store, default_db_path

__all__ = ["Store", "SupplyChain", "UserError", "__version__", "default_db_path", "metrics"]
