"""The EC2 adapter: clients and accounts, snapshot operations, errors, permission checks. Imports inputs/ and
core's waiting primitives, never a front door."""
