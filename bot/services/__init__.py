"""Use cases: they own the transaction, call ports, and return typed outcomes."""
