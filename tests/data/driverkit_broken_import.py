"""A Python driver module that fails to import (tests/driverkit/test_driverkit.py)."""

raise RuntimeError("this driver needs a device that is not here")
