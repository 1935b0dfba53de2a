"""Local EC2 emulator for this project's run command and tests (moto's server, extended).

Modules: `server` (the WSGI app, the control API, `Ec2Emulator`), `models` (EBS and AMI behaviour), `responses`
(request parsing for the actions the emulator answers itself), `exceptions`, `faults` (fault injection), `calls` (the
call log), `world` (seeding, export and readouts), `patch` (what is changed in moto, in one place).
"""

from emulator.calls import Call
from emulator.faults import Faults
from emulator.server import Ec2Emulator
from emulator.world import World

__all__ = ["Call", "Ec2Emulator", "Faults", "World"]
