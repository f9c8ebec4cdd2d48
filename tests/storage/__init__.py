"""Contract tests of the storage ports, run against every adapter."""
