"""The core: what a snapshot resource does whichever front door serves it (each resource's outputs and operations,
declared once in `resource_types`; its lifecycle, waits, progress, holds, per-volume limits, the pruning
planner). Imports ec2/, inputs/ and process/, never a front door."""
