"""The EVM side: the node (anvil), the client (calls, transactions, reverts by name),
deployment records, the pinned Solidity compiler, and a circuit's verifier."""
