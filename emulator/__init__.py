"""Local EC2 emulator for this project's run command and tests (moto's server, extended). See `emulator.server`."""

from emulator.server import Call, Ec2Emulator, Faults

__all__ = ["Call", "Ec2Emulator", "Faults"]
