"""The core: what a snapshot resource does whichever front door serves it (its lifecycle, waits, progress, batching,
pacing, holds, per-volume limits, the pruning planner). Imports ec2/ and inputs/, never a front door."""
