"""The fee pool: the first consumer (AdaptiveFeePool + `FeeConsumer`), and its demo story."""

from prover.consumers.fee.pool import FeeConsumer, PoolParams, pool_constructor_args

__all__ = ["FeeConsumer", "PoolParams", "pool_constructor_args"]
