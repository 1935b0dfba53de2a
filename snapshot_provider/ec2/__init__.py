"""The EC2 adapter: clients and accounts, their requests paced to EC2's API rate, the engine's Cancel as every wait and
request hears it, snapshot operations (their lookups batched), errors, permission checks. Imports inputs/ and
process/ only: never core/ nor a front door."""
