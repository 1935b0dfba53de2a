"""The EC2 adapter: clients and accounts, snapshot operations (their lookups batched), errors, permission checks.
Imports inputs/ and, the one arrow left pointing outwards, core's waiting and pacing (clients are paced, `wait_for`
uses the shared poller); never a front door."""
