"""Infrastructure: Redis and its in-process twins, clocks; no Discord, no business rules."""
