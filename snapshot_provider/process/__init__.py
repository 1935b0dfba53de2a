"""The provider process itself, below every layer: its line to the Pulumi engine (`engine_log`). Imports nothing of
the package."""
