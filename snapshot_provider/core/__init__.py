"""The core: what a snapshot resource does whichever front door serves it (each resource's outputs and operations,
declared once in `resource_types`; its lifecycle, waits, progress, pacing, holds, per-volume limits, the pruning
planner). Imports ec2/ and inputs/, never a front door."""
